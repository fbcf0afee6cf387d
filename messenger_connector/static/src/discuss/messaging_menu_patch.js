import { MessagingMenu } from "@mail/core/public_web/messaging_menu";

import { patch } from "@web/core/utils/patch";

patch(MessagingMenu.prototype, {
    /** A messenger failure opens its chat, where the failed message shows its reason and Retry. */
    onClickFailure(failure) {
        if (failure.type !== "messenger") {
            return super.onClickFailure(failure);
        }
        this.openFailureView(failure);
    },
    openFailureView(failure) {
        if (failure.type !== "messenger") {
            return super.openFailureView(failure);
        }
        const thread = failure.notifications[0]?.message?.thread;
        thread?.open();
        this.dropdown.close();
    },
});
