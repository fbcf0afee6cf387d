import { registry } from "@web/core/registry";

/**
 * An administrator connects the demo's WhatsApp account with the set-up assistant, one wrong field at a time,
 * and reads what to fix. The fake WhatsApp and the wrong fields come from the Python test
 * (messenger_connector/tests/test_health.py, TestSetupTour).
 */
registry.category("web_tour.tours").add("messenger_setup_assistant", {
    steps: () => [
        {
            content: "Open the set-up assistant from the account",
            trigger: ".o_form_view button[name=action_open_setup]",
            run: "click",
        },
        {
            content: "Step 1: the phone number, where to find it",
            trigger: ".modal:contains('Step 1 of 5') .modal-body:contains('Phone Number ID')",
        },
        {
            trigger: ".modal-footer button[name=action_next]",
            run: "click",
        },
        {
            content: "Step 2: the access token",
            trigger: ".modal:contains('Step 2 of 5') .o_field_widget[name=wa_access_token] input",
        },
        {
            content: "Check what Meta says",
            trigger: ".modal-footer button[name=action_check]",
            run: "click",
        },
        {
            content: "The expired token is refused, in words",
            trigger: ".modal .alert-danger:contains('Meta does not accept the access token')",
        },
        {
            content: "Paste the right token",
            trigger: ".modal .o_field_widget[name=wa_access_token] input",
            run: "edit demo-wa-token",
        },
        {
            trigger: ".modal-footer button[name=action_check]",
            run: "click",
        },
        {
            content: "The token is fine now; the App Secret is another app's",
            trigger: ".modal .alert-danger:contains('The App Secret is not the one of the app that owns the token')",
        },
        {
            trigger: ".modal-footer button[name=action_next]",
            run: "click",
        },
        {
            content: "Step 3: the App Secret",
            trigger: ".modal:contains('Step 3 of 5') .o_field_widget[name=wa_app_secret] input",
            run: "edit demo-wa-app-secret",
        },
        {
            trigger: ".modal-footer button[name=action_check]",
            run: "click",
        },
        {
            content: "Token and secret are right; Meta still calls an old URL",
            trigger:
                ".modal .alert-danger:contains('The access token is valid for the number')" +
                ":contains('The App Secret is the one of the app')" +
                ":contains('points to another URL (https://old.example.com/webhook)')",
        },
        {
            trigger: ".modal-footer button[name=action_next]",
            run: "click",
        },
        {
            content: "Step 4: the webhook URL and verify token to paste into Meta, with copy buttons",
            trigger: ".modal:contains('Step 4 of 5') .o_field_widget[name=webhook_url] .o_clipboard_button",
        },
        {
            trigger: ".modal .o_field_widget[name=wa_verify_token] .o_clipboard_button",
        },
    ],
});
