import { DiscussApp } from "@mail/core/public_web/discuss_app_model";
import { Record } from "@mail/core/common/record";

import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

/** The "Messenger" category of the Discuss sidebar: the chats of messenger conversations. */
patch(DiscussApp.prototype, {
    setup(env) {
        super.setup(env);
        this.messengerCategory = Record.one("DiscussAppCategory", {
            compute() {
                return {
                    extraClass: "o-mail-DiscussSidebarCategory-messenger",
                    icon: "fa fa-commenting",
                    hideWhenEmpty: true,
                    id: "messenger_connector.category",
                    name: _t("Messenger"),
                    sequence: 22,
                };
            },
        });
    },
});
