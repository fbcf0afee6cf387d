import { Composer } from "@mail/core/common/composer";
import { Component, toRaw, useState } from "@odoo/owl";

import { Dialog } from "@web/core/dialog/dialog";
import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

/** Take over a chat from a colleague, with a note for them (why, what was agreed). */
export class MessengerTakeOverDialog extends Component {
    static template = "messenger_connector.TakeOverDialog";
    static components = { Dialog };
    static props = ["agentName", "confirm", "close"];

    setup() {
        this.state = useState({ note: "" });
    }

    async onConfirm() {
        await this.props.confirm(this.state.note);
        this.props.close();
    }
}

patch(Composer.prototype, {
    /** The messenger chat this composer writes in (not when editing a message). */
    get messengerThread() {
        const thread = this.thread;
        return !this.props.composer.message && thread?.channel_type === "messenger" ? thread : null;
    },
    get placeholder() {
        const thread = this.messengerThread;
        if (thread?.messengerNoteMode || thread?.messengerOtherAgent) {
            return _t("Internal note for colleagues (not sent)…");
        }
        if (thread) {
            return _t("Reply to %(name)s…", { name: thread.displayName });
        }
        return super.placeholder;
    },
    get postData() {
        const data = super.postData;
        const thread = this.messengerThread;
        if (thread?.messengerNoteMode || thread?.messengerOtherAgent) {
            data.isNote = true;
        }
        return data;
    },
    messengerToggleNote() {
        const thread = toRaw(this.messengerThread);
        thread.messengerNoteMode = !thread.messengerNoteMode;
    },
    async messengerCall(method, args = []) {
        const thread = toRaw(this.messengerThread);
        const result = await this.env.services.orm.call("messenger.conversation", method, [
            [thread.messenger.conversation_id],
            ...args,
        ]);
        return result;
    },
    async messengerSendTemplate() {
        const action = await this.messengerCall("action_open_send_template");
        await this.env.services.action.doAction(action);
    },
    async messengerRequestContactInfo() {
        await this.messengerCall("action_request_contact_info");
    },
    async messengerAssignToMe() {
        await this.messengerCall("action_assign_to_me");
    },
    messengerTakeOver() {
        const thread = toRaw(this.messengerThread);
        this.env.services.dialog.add(MessengerTakeOverDialog, {
            agentName: thread.messengerOtherAgent?.name || "",
            confirm: (note) => this.messengerCall("action_take_over", [note]),
        });
    },
});
