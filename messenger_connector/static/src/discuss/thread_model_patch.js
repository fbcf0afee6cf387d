import { Thread } from "@mail/core/common/thread_model";
import { compareDatetime } from "@mail/utils/common/misc";

import { deserializeDateTime, formatDateTime } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

patch(Thread.prototype, {
    setup() {
        super.setup(...arguments);
        /** what the server tells of the conversation (see discuss.channel._to_store) */
        this.messenger = undefined;
        /** the composer writes an internal note (not sent to the person) */
        this.messengerNoteMode = false;
    },
    get isMessengerChat() {
        return this.channel_type === "messenger";
    },
    _computeDiscussAppCategory() {
        if (this.channel_type === "messenger") {
            return this.store.discuss.messengerCategory;
        }
        return super._computeDiscussAppCategory();
    },
    get isChatChannel() {
        return this.channel_type === "messenger" || super.isChatChannel;
    },
    get canLeave() {
        // membership follows the conversation's access, not the agent's wish
        return this.channel_type !== "messenger" && super.canLeave;
    },
    get canUnpin() {
        if (this.channel_type === "messenger") {
            return !this.selfMember || this.selfMember.message_unread_counter === 0;
        }
        return super.canUnpin;
    },
    get allowDescription() {
        return this.channel_type !== "messenger" && super.allowDescription;
    },
    get avatarUrl() {
        if (this.channel_type === "messenger" && this.messenger?.partner_id) {
            return `/web/image/res.partner/${this.messenger.partner_id}/avatar_128`;
        }
        return super.avatarUrl;
    },
    /** The platform's icon (Font Awesome 4) and colour, as its provider tells (see _discuss_infos). */
    get messengerIcon() {
        return this.messenger?.icon || "fa fa-commenting";
    },
    get messengerIconStyle() {
        return this.messenger?.color ? `color: ${this.messenger.color}` : "";
    },
    /** The moment the reply window closes (a luxon DateTime), or null where the platform has none. */
    get messengerWindowEnd() {
        const end = this.messenger?.window_expires_at;
        return end ? deserializeDateTime(end) : null;
    },
    get messengerWindowClosed() {
        if (!this.messenger?.has_window) {
            return false;
        }
        const end = this.messengerWindowEnd;
        return !end || end < luxon.DateTime.now();
    },
    get messengerWindowText() {
        const end = this.messengerWindowEnd;
        return end
            ? _t("The reply window closed on %(date)s: only an approved template can be sent now.", {
                  date: formatDateTime(end),
              })
            : _t("The reply window is closed: only an approved template can be sent now.");
    },
    /** The colleague who handles the chat, when it is not the current user. */
    get messengerOtherAgent() {
        const agent = this.messenger?.agent;
        if (!agent || agent.partner_id === this.store.self?.id) {
            return null;
        }
        return agent;
    },
    /** The agent of a chat sees it open by itself when the person writes again. */
    notifyMessageToUser(message) {
        super.notifyMessageToUser(message);
        if (
            this.channel_type === "messenger" &&
            this.messenger?.agent?.partner_id === this.store.self?.id &&
            !message.isSelfAuthored &&
            !this.store.discuss.isActive
        ) {
            this.store.ChatWindow.insert({ thread: this }).open();
        }
    },
});

export function compareMessengerChats(t1, t2) {
    return compareDatetime(t2.lastInterestDt, t1.lastInterestDt) || t2.id - t1.id;
}
