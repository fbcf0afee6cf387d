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
