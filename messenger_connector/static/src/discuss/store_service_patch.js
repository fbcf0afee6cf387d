import { Store } from "@mail/core/common/store_service";

import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

patch(Store.prototype, {
    /**
     * A reply in a messenger chat that the send checks refuse (window, consent, block, another agent) is not
     * posted: the agent reads why at once, and the text goes back into the composer.
     */
    async doMessagePost(params, tmpMessage) {
        const thread =
            params.thread_model === "discuss.channel" &&
            this.Thread.get({ model: "discuss.channel", id: params.thread_id });
        if (thread?.channel_type !== "messenger") {
            return super.doMessagePost(...arguments);
        }
        try {
            // without the temporary message, Odoo's post lets the refusal through instead of offering a retry
            return await super.doMessagePost(params);
        } catch (error) {
            if (tmpMessage) {
                thread.messages.delete(tmpMessage);
                if (thread.composer && !thread.composer.text && tmpMessage.body) {
                    const div = document.createElement("div");
                    div.innerHTML = tmpMessage.body;
                    thread.composer.text = div.innerText;
                }
                tmpMessage.delete();
            }
            this.env.services.notification.add(
                error.data?.message || error.message || _t("The message could not be sent."),
                { type: "danger", title: _t("Not sent") }
            );
        }
    },
});
