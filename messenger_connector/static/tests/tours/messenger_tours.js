import { registry } from "@web/core/registry";

/**
 * Web-client checks of the Messenger screens. The data comes from the Python test that starts each tour
 * (messenger_connector/tests/test_tours.py); they are not meant to be run from the interface.
 */
const tours = registry.category("web_tour.tours");

function assertCount(selector, expected) {
    const found = document.querySelectorAll(selector).length;
    if (found !== expected) {
        throw new Error(`expected ${expected} of "${selector}", found ${found}`);
    }
}

tours.add("messenger_chatter_reply", {
    url: "/odoo/action-messenger_connector.action_messenger_conversation",
    steps: () => [
        {
            content: "Open the conversation from the kanban",
            trigger: ".o_kanban_record:contains('Tina Tour')",
            run: "click",
        },
        {
            // what is said is in the chat (the Messages tab lists it); the chatter tells what happens to the conversation
            content: "The form is loaded with the person's message",
            trigger: ".o_field_widget[name=messenger_message_ids] .o_data_row:contains('where is my order?')",
        },
        {
            content: "Open the chatter's composer",
            trigger: ".o-mail-Chatter-topbar button:contains(Send message)",
            run: "click",
        },
        {
            content: "Write the reply",
            trigger: ".o-mail-Composer-input",
            run: "edit It ships tomorrow, Tina.",
        },
        {
            content: "Send it",
            trigger: ".o-mail-Composer-send:enabled",
            run: "click",
        },
        {
            content: "The Messages tab lists it as an outgoing message, queued for the person",
            trigger:
                ".o_field_widget[name=messenger_message_ids] .o_data_row:contains('It ships tomorrow, Tina.') " +
                ".o_field_widget[name=state]:contains('Queued')",
        },
    ],
});

tours.add("messenger_send_template", {
    url: "/odoo/action-messenger_connector.action_messenger_conversation",
    steps: () => [
        {
            trigger: ".o_kanban_record:contains('Tina Tour')",
            run: "click",
        },
        {
            content: "The window is closed: no free-form reply offered",
            trigger: ".o_form_view .alert-info:contains('reply window is closed')",
        },
        {
            trigger: ".o_form_view:not(:has(.o_field_widget[name=composer_text]))",
        },
        {
            trigger: ".o_form_statusbar button[name=action_open_send_template]",
            run: "click",
        },
        {
            content: "Pick the synced template from the list",
            trigger: ".modal .o_field_widget[name=template_id] input",
            run: "edit order_update",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains('order_update (en_US)')",
            run: "click",
        },
        {
            content: "One line per parameter",
            trigger: ".modal .o_field_widget[name=param_ids] .o_data_row:eq(2)",
            run: () => assertCount(".modal .o_field_widget[name=param_ids] .o_data_row", 3),
        },
        ...["Tina", "S0042", "Friday"].flatMap((value, index) => [
            {
                trigger: `.modal .o_field_widget[name=param_ids] .o_data_row:eq(${index}) .o_data_cell[name=value]`,
                run: "click",
            },
            {
                trigger: `.modal .o_field_widget[name=param_ids] .o_data_row:eq(${index}) [name=value] input`,
                run: `edit ${value}`,
            },
        ]),
        {
            content: "Leave the last line so that its value is taken",
            trigger: ".modal .o_field_widget[name=conversation_id]",
            run: "click",
        },
        {
            content: "The preview shows what the person receives",
            trigger: ".modal .o_field_widget[name=preview]:contains('Hello Tina, your order S0042 ships on Friday.')",
        },
        {
            trigger: ".modal-footer button[name=action_send]",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
        {
            trigger:
                ".o_field_widget[name=messenger_message_ids] .o_data_row:contains('Hello Tina, your order S0042')",
        },
    ],
});

tours.add("messenger_lead_own_chat", {
    steps: () => [
        {
            content: "The lead opens (no access error)",
            trigger: ".o_form_view .o_field_widget[name=name] textarea, .o_form_view .o_field_widget[name=name] input",
        },
        {
            trigger: "body:not(:has(.o_error_dialog))",
        },
        {
            trigger: ".o_notebook .nav-link:contains('Messenger')",
            run: "click",
        },
        {
            content: "Only the salesperson's own chat",
            trigger: ".o_field_widget[name=messenger_conversation_ids] .o_data_row:contains('TG test')",
            run: () => {
                assertCount(".o_field_widget[name=messenger_conversation_ids] .o_data_row", 1);
                if (document.body.textContent.includes("Here is my quote question")) {
                    throw new Error("the other salesperson's chat is shown");
                }
            },
        },
        {
            trigger: "body:not(:has(.o_error_dialog))",
        },
    ],
});

tours.add("messenger_contact_chats", {
    steps: () => [
        {
            trigger: ".o_form_view .o_field_widget[name=name] input",
        },
        {
            trigger: "body:not(:has(.o_error_dialog))",
        },
        {
            trigger: ".o_notebook .nav-link:contains('Messenger')",
            run: "click",
        },
        {
            content: "The tab lists only the chat the salesperson may read",
            trigger: ".o_field_widget[name=messenger_conversation_ids] .o_data_row:contains('TG test')",
            run: () => assertCount(".o_field_widget[name=messenger_conversation_ids] .o_data_row", 1),
        },
        {
            content: "The Chats button counts the same",
            trigger: "button[name=action_view_messenger_conversations] .o_stat_value:contains('1')",
            run: "click",
        },
        {
            content: "and opens only that chat",
            trigger: ".o_kanban_record:contains('TG test')",
            run: () => {
                assertCount(".o_kanban_record:not(.o_kanban_ghost)", 1);
                if (document.body.textContent.includes("WA test")) {
                    throw new Error("the other salesperson's chat is listed");
                }
            },
        },
        {
            trigger: "body:not(:has(.o_error_dialog))",
        },
    ],
});

tours.add("messenger_manager_account", {
    steps: () => [
        {
            content: "The account form opens with its connection settings",
            trigger: ".o_form_view .o_notebook .nav-link:contains('Connection')",
        },
        {
            content: "Field help is offered",
            trigger: ".o_form_label:contains('Send Attempts') sup",
            run: "hover",
        },
        {
            trigger: ".o-tooltip:contains('temporarily failing message is tried')",
        },
        {
            trigger: "body:not(:has(.o_error_dialog))",
        },
    ],
});

tours.add("messenger_manager_settings", {
    steps: () => [
        {
            content: "The Messenger settings: each setting explains itself",
            trigger: ".o_setting_box:contains('WhatsApp Templates'):contains('Templates synced from Meta')",
        },
        {
            trigger: ".o_setting_box:contains('Retention'):contains('How long chats are kept')",
        },
        {
            trigger: ".o_setting_box:contains('Retention') button:contains('Retention Policies')",
            run: "click",
        },
        {
            trigger: ".o_breadcrumb:contains('Retention')",
        },
        {
            trigger: "body:not(:has(.o_error_dialog))",
        },
    ],
});
