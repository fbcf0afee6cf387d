import { messageActionsRegistry } from "@mail/core/common/message_actions";

import { _t } from "@web/core/l10n/translation";

/** A promise made in a chat ("I will send the offer on Monday") becomes an activity on its applicant, lead or
 * contact, with the message as note. */
messageActionsRegistry.add("messenger-schedule-followup", {
    condition: (component) =>
        component.props.thread?.channel_type === "messenger" &&
        Boolean(component.props.message.id) &&
        !component.props.message.isPending,
    icon: "fa fa-clock-o",
    title: _t("Schedule Activity"),
    onClick: async (component) => {
        const action = await component.env.services.orm.call(
            "messenger.conversation",
            "action_schedule_followup",
            [component.props.message.id]
        );
        await component.env.services.action.doAction(action);
    },
    sequence: 95,
});
