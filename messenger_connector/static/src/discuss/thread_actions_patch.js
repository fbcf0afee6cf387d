import { threadActionsRegistry } from "@mail/core/common/thread_actions";
import { patch } from "@web/core/utils/patch";

// a messenger chat's members follow who may read its conversation: nobody is invited into it
patch(threadActionsRegistry.get("invite-people"), {
    condition(component) {
        return component.thread?.channel_type !== "messenger" && super.condition(component);
    },
});
