import { registry } from "@web/core/registry";

/**
 * The live inbox in Discuss (messenger_connector/tests/test_discuss_tour.py starts these tours and plays the
 * platform: a signed webhook while the agent looks at the chat, then a status webhook once the fake platform
 * received the answer).
 */
const tours = registry.category("web_tour.tours");

tours.add("messenger_discuss_live", {
    url: "/odoo/discuss",
    steps: () => [
        {
            content: "The Messenger category lists the chat",
            trigger: ".o-mail-DiscussSidebarCategory-messenger",
        },
        {
            trigger: ".o-mail-DiscussSidebarChannel:has(.o-messenger-name:contains(Tina Tour))",
            run: "click",
        },
        {
            trigger: ".o-mail-Message:contains(where is my order?)",
        },
        {
            content: "The next message arrives by webhook and shows without reload",
            trigger: ".o-mail-Message:contains(Do you deliver on Saturday?)",
            timeout: 30000,
        },
        {
            content: "A canned response",
            trigger: ".o-mail-Composer-input",
            run: "edit :saturday",
        },
        {
            trigger: ".o-mail-Composer-suggestion:contains(saturday)",
            run: "click",
        },
        {
            trigger: ".o-mail-Composer-input",
            run: "press Enter",
        },
        {
            content: "Sent to the platform, then read by the person: the tick turns blue",
            trigger: ".o-mail-Message:contains(we deliver on Saturdays) .o-mail-Message-notification .text-primary",
            timeout: 30000,
        },
    ],
});

tours.add("messenger_discuss_assigned", {
    url: "/odoo/discuss",
    steps: () => [
        {
            trigger: ".o-mail-DiscussSidebarChannel:has(.o-messenger-name:contains(Tina Tour))",
            run: "click",
        },
        {
            content: "The colleague sees who handles the chat",
            trigger: ".o-messenger-assigned:contains(Agent Smith handles this chat)",
        },
        {
            content: "and writes notes only",
            trigger: ".o-mail-Composer-input[placeholder*='Internal note']",
            run: "edit Tina called the shop too",
        },
        {
            trigger: ".o-mail-Composer-input",
            run: "press Enter",
        },
        {
            trigger: ".o-mail-Message:contains(Tina called the shop too) .o-messenger-note-badge",
        },
    ],
});

tours.add("messenger_discuss_everyday", {
    url: "/odoo/discuss",
    steps: () => [
        {
            trigger: ".o-mail-DiscussSidebarChannel:has(.o-messenger-name:contains(Tina Tour))",
            run: "click",
        },
        {
            content: "The reply window has closed: the chat offers a template",
            trigger: ".o-messenger-window-closed .o-messenger-send-template",
            run: "click",
        },
        {
            content: "The template wizard opens over the chat",
            trigger: ".modal .o_form_view .o_field_widget[name=template_id]",
        },
        {
            trigger: ".modal-header .btn-close",
            run: "click",
        },
        {
            content: "The customer's photo shows as soon as it is downloaded, without reload",
            trigger: ".o-mail-Message:contains(photo of the damage) .o-mail-AttachmentImage img",
            timeout: 60000,
        },
        {
            content: "What the customer sent stays: no trash icon",
            trigger:
                ".o-mail-Message:contains(photo of the damage):not(:has(.o-mail-AttachmentImage button[title=Remove]))",
        },
        {
            content: "A note for colleagues (the window is open again)",
            trigger: ".o-messenger-note-toggle",
            run: "click",
        },
        {
            trigger: ".o-mail-Composer-input",
            run: "edit The photo arrived",
        },
        {
            trigger: ".o-mail-Composer-input",
            run: "press Enter",
        },
        {
            content: "The person's data is erased meanwhile: the chat leaves the open tab",
            trigger: ".o-mail-DiscussSidebar:not(:has(.o-messenger-name:contains(Tina Tour)))",
            timeout: 60000,
        },
        {
            trigger: "body:not(:has(.o-mail-Message:contains(photo of the damage)))",
        },
    ],
});
