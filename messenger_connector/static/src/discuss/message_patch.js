import { Attachment } from "@mail/core/common/attachment_model";
import { Message } from "@mail/core/common/message";
import { Notification } from "@mail/core/common/notification_model";
import { Failure } from "@mail/core/common/failure_model";
import { Thread } from "@mail/core/common/thread";
import { Component, toRaw } from "@odoo/owl";

import { Dialog } from "@web/core/dialog/dialog";
import { _t } from "@web/core/l10n/translation";
import { markEventHandled } from "@web/core/utils/misc";
import { patch } from "@web/core/utils/patch";

/** Delivery ticks: one for sent, two for delivered, two in colour for read. */
const STATE_ICONS = {
    queued: "fa fa-clock-o",
    sending: "fa fa-clock-o",
    sent: "fa fa-check",
    delivered: "fa fa-check o-messenger-double",
    read: "fa fa-check o-messenger-double text-primary",
    failed: "fa fa-exclamation-triangle",
};

patch(Notification.prototype, {
    get icon() {
        if (this.notification_type === "messenger") {
            const state = this.message?.messengerState?.state;
            return STATE_ICONS[state] || (this.isFailure ? STATE_ICONS.failed : STATE_ICONS.queued);
        }
        return super.icon;
    },
    get label() {
        if (this.notification_type === "messenger") {
            return this.message?.messengerState?.label || "";
        }
        return super.label;
    },
});

patch(Failure.prototype, {
    get iconSrc() {
        if (this.type === "messenger") {
            return "/messenger_connector/static/description/icon.png";
        }
        return super.iconSrc;
    },
    get body() {
        if (this.type === "messenger") {
            return _t("A messenger message could not be delivered");
        }
        return super.body;
    },
});

patch(Message.prototype, {
    onClickFailure(ev) {
        const message = toRaw(this.message);
        const state = message.messengerState;
        if (!state) {
            return super.onClickFailure(ev);
        }
        markEventHandled(ev, "Message.ClickFailure");
        this.env.services.dialog.add(MessengerFailureDialog, {
            reason: state.error || _t("The platform gave no reason."),
            retry: async () => {
                await this.env.services.orm.call("messenger.message", "action_retry", [[state.id]]);
            },
        });
    },
});

/** Why a message was not delivered, and Retry (the same checks as the Retry button of the message). */
export class MessengerFailureDialog extends Component {
    static template = "messenger_connector.FailureDialog";
    static components = { Dialog };
    static props = ["reason", "retry", "close"];

    async onRetry() {
        await this.props.retry();
        this.props.close();
    }
}

patch(Thread.prototype, {
    /** In a messenger chat, a note or a message with its own delivery state keeps its header (badge, tick). */
    isSquashed(msg, prevMsg) {
        if (
            this.props.thread?.channel_type === "messenger" &&
            (msg.messengerNote || prevMsg?.messengerNote || msg.messengerState?.direction === "out")
        ) {
            return false;
        }
        return super.isSquashed(msg, prevMsg);
    },
});

patch(Attachment.prototype, {
    /** A file sent or received on a messenger stays where it was: the person has it (the server refuses too). */
    get isDeletable() {
        if (this.message?.messengerState) {
            return false;
        }
        return super.isDeletable;
    },
});
