import {
    assertSteps,
    click,
    contains,
    insertText,
    mailModels,
    openDiscuss,
    start,
    startServer,
    step,
    triggerHotkey,
} from "@mail/../tests/mail_test_helpers";
import { hrModels } from "@hr/../tests/hr_test_helpers";
import { describe, test } from "@odoo/hoot";
import {
    Command,
    defineModels,
    fields,
    makeKwArgs,
    makeServerError,
    onRpc,
    serverState,
} from "@web/../tests/web_test_helpers";

/** The server's discuss.channel._to_store adds the conversation's header ("messenger"). */
class DiscussChannel extends mailModels.DiscussChannel {
    messenger = fields.Generic({ default: false });

    _to_store(ids, store) {
        super._to_store(...arguments);
        for (const channel of this.browse(ids)) {
            if (channel.channel_type === "messenger") {
                store.add(this.browse(channel.id), { messenger: channel.messenger });
            }
        }
    }
}

/** The server's mail.message._extras_to_store adds the delivery state and the note mark. */
class MailMessage extends mailModels.MailMessage {
    messengerState = fields.Generic({ default: false });
    messengerNote = fields.Generic({ default: false });

    _to_store(ids, store) {
        super._to_store(...arguments);
        for (const message of this.browse(ids)) {
            const extra = {};
            if (message.messengerState) {
                extra.messengerState = message.messengerState;
            }
            if (message.messengerNote) {
                extra.messengerNote = true;
            }
            store.add(this.browse(message.id), extra);
        }
    }
}

describe.current.tags("desktop");
// the addon depends on hr (through recruitment), whose patches of the chat ask for employees
defineModels({ ...hrModels, DiscussChannel, MailMessage });

const FUTURE = "2099-01-01 10:00:00";

function header(values = {}) {
    return {
        conversation_id: 7,
        provider: "whatsapp",
        // what the provider tells of itself (see messenger.conversation._discuss_infos)
        icon: "fa fa-whatsapp",
        color: "#25d366",
        account: "Shop WhatsApp",
        number: "+32470777001",
        partner_id: false,
        state: "waiting",
        agent: false,
        assign_note: false,
        window_expires_at: FUTURE,
        has_window: true,
        blocked: false,
        has_templates: true,
        linked: { model: "crm.lead", id: 3, name: "Oak table quote" },
        ...values,
    };
}

async function messengerChat(pyEnv, values = {}, name = "Dora Discuss") {
    const partnerId = pyEnv["res.partner"].create({ name });
    const channelId = pyEnv["discuss.channel"].create({
        name,
        channel_type: "messenger",
        channel_member_ids: [Command.create({ partner_id: serverState.partnerId })],
        messenger: header({ partner_id: partnerId, ...values }),
    });
    return { channelId, partnerId };
}

test("messenger chats have their own sidebar category with platform, person and linked record", async () => {
    const pyEnv = await startServer();
    await messengerChat(pyEnv);
    await start();
    await openDiscuss();
    await contains(".o-mail-DiscussSidebarCategory-messenger");
    await contains(".o-mail-DiscussSidebarChannel .o-messenger-name", { text: "Dora Discuss" });
    await contains(".o-mail-DiscussSidebarChannel .o-messenger-platform.fa-whatsapp");
    await contains(".o-mail-DiscussSidebarChannel .o-messenger-linked", { text: "Oak table quote" });
});

test("the sidebar finds a chat by number in any writing", async () => {
    const pyEnv = await startServer();
    await messengerChat(pyEnv);
    await messengerChat(pyEnv, { number: "+4917012345", partner_id: false }, "Tom Telegram");
    await start();
    await openDiscuss();
    await contains(".o-mail-DiscussSidebarChannel", { count: 2 });
    await insertText(".o-mail-DiscussSidebarQuickSearchInput input, input.o-mail-DiscussSidebarQuickSearchInput", "0032 470 777");
    await contains(".o-mail-DiscussSidebarChannel", { count: 1 });
    await contains(".o-mail-DiscussSidebarChannel .o-messenger-name", { text: "Dora Discuss" });
});

test("closed reply window: the composer says when it closed and offers Send Template", async () => {
    const pyEnv = await startServer();
    const { channelId } = await messengerChat(pyEnv, { window_expires_at: "2018-05-01 08:30:00" });
    onRpc("messenger.conversation", "action_open_send_template", ({ args }) => {
        step(`template ${args[0][0]}`);
        return { type: "ir.actions.act_window_close" };
    });
    await start();
    await openDiscuss(channelId);
    await contains(".o-messenger-window-closed");
    await contains(".o-messenger-window-closed:contains(2018)");
    await click(".o-messenger-send-template");
    await assertSteps(["template 7"]);
});

test("open window: no banner, the reply goes to the person as a comment", async () => {
    const pyEnv = await startServer();
    const { channelId } = await messengerChat(pyEnv);
    onRpc("/mail/message/post", async (request) => {
        const { params } = await request.json();
        step(params.post_data.subtype_xmlid);
    });
    await start();
    await openDiscuss(channelId);
    await contains(".o-messenger-ComposerBar");
    await contains(".o-messenger-window-closed", { count: 0 });
    await insertText(".o-mail-Composer-input", "It ships tomorrow");
    triggerHotkey("Enter");
    await assertSteps(["mail.mt_comment"]);
});

test("internal note: toggled in the composer, posted as a note", async () => {
    const pyEnv = await startServer();
    const { channelId } = await messengerChat(pyEnv);
    onRpc("/mail/message/post", async (request) => {
        const { params } = await request.json();
        step(params.post_data.subtype_xmlid);
    });
    await start();
    await openDiscuss(channelId);
    await click(".o-messenger-note-toggle");
    await contains(".o-mail-Composer-input[placeholder*='Internal note']");
    await insertText(".o-mail-Composer-input", "VIP customer");
    triggerHotkey("Enter");
    await assertSteps(["mail.mt_note"]);
});

test("chat handled by a colleague: shown, replies become notes, Take Over with a note", async () => {
    const pyEnv = await startServer();
    const colleague = pyEnv["res.partner"].create({ name: "Mary Manager" });
    const { channelId } = await messengerChat(pyEnv, {
        agent: { id: 99, name: "Mary Manager", partner_id: colleague },
        assign_note: "customer prefers German",
    });
    onRpc("messenger.conversation", "action_take_over", ({ args }) => {
        step(`take over ${args[0][0]}: ${args[1]}`);
        return true;
    });
    await start();
    await openDiscuss(channelId);
    await contains(".o-messenger-assigned:contains(Mary Manager handles this chat)");
    await contains(".o-mail-Composer-input[placeholder*='Internal note']");
    await click(".o-messenger-take-over");
    await insertText(".o-messenger-take-over-note", "Mary is on holiday");
    await click(".o-messenger-take-over-confirm");
    await assertSteps(["take over 7: Mary is on holiday"]);
});

test("a refused reply shows the reason at once and gives the text back", async () => {
    const pyEnv = await startServer();
    const { channelId } = await messengerChat(pyEnv);
    onRpc("/mail/message/post", () => {
        throw makeServerError({ description: "Dora opted out of service messages." });
    });
    await start();
    await openDiscuss(channelId);
    await insertText(".o-mail-Composer-input", "Are you there?");
    triggerHotkey("Enter");
    await contains(".o_notification:contains(Dora opted out of service messages)");
    await contains(".o-mail-Message", { count: 0 });
    await contains(".o-mail-Composer-input", { value: "Are you there?" });
});

test("delivery ticks: read in colour, a failure shows its reason and Retry", async () => {
    const pyEnv = await startServer();
    const { channelId, partnerId } = await messengerChat(pyEnv);
    const readId = pyEnv["mail.message"].create({
        author_id: serverState.partnerId,
        body: "It ships tomorrow",
        date: "2024-01-01 10:00:00",
        message_type: "comment",
        model: "discuss.channel",
        res_id: channelId,
        messengerState: { id: 41, state: "read", label: "Read", direction: "out", error: false },
    });
    const failedId = pyEnv["mail.message"].create({
        author_id: serverState.partnerId,
        body: "Hello again",
        date: "2024-01-02 12:00:00",
        message_type: "comment",
        model: "discuss.channel",
        res_id: channelId,
        messengerState: { id: 42, state: "failed", label: "Failed", direction: "out", error: "Number not on WhatsApp" },
    });
    pyEnv["mail.notification"].create([
        { mail_message_id: readId, notification_type: "messenger", notification_status: "sent", res_partner_id: partnerId },
        {
            mail_message_id: failedId,
            notification_type: "messenger",
            notification_status: "exception",
            failure_type: "messenger",
            res_partner_id: partnerId,
        },
    ]);
    onRpc("messenger.message", "action_retry", ({ args }) => {
        step(`retry ${args[0][0]}`);
        return true;
    });
    await start();
    await openDiscuss(channelId);
    await contains(".o-mail-Message:contains(It ships tomorrow) .o-mail-Message-notification .fa-check.text-primary");
    await contains(".o-mail-Message:contains(It ships tomorrow) .o-mail-Message-notification", { text: "Read" });
    await click(".o-mail-Message:contains(Hello again) .o-mail-Message-notification");
    await contains(".o-messenger-failure-reason", { text: "Number not on WhatsApp" });
    await click(".o-messenger-retry");
    await assertSteps(["retry 42"]);
});

test("internal notes are marked, also right after a message of the same author", async () => {
    const pyEnv = await startServer();
    const { channelId } = await messengerChat(pyEnv);
    pyEnv["mail.message"].create({
        author_id: serverState.partnerId,
        body: "See you Friday",
        message_type: "comment",
        model: "discuss.channel",
        res_id: channelId,
    });
    pyEnv["mail.message"].create({
        author_id: serverState.partnerId,
        body: "VIP customer",
        message_type: "comment",
        model: "discuss.channel",
        res_id: channelId,
        messengerNote: true,
    });
    await start();
    await openDiscuss(channelId);
    await contains(".o-mail-Message .o-messenger-note-badge", { text: "Internal note" });
});

test("a failed messenger message shows in the messaging menu and opens its chat", async () => {
    const pyEnv = await startServer();
    const { channelId, partnerId } = await messengerChat(pyEnv);
    const messageId = pyEnv["mail.message"].create({
        author_id: serverState.partnerId,
        body: "Hello again",
        message_type: "comment",
        model: "discuss.channel",
        res_id: channelId,
        messengerState: { id: 42, state: "failed", label: "Failed", direction: "out", error: "Undeliverable" },
    });
    pyEnv["mail.notification"].create({
        author_id: serverState.partnerId,
        mail_message_id: messageId,
        notification_status: "exception",
        notification_type: "messenger",
        failure_type: "messenger",
        res_partner_id: partnerId,
    });
    await start();
    await click(".o_menu_systray i[aria-label='Messages']");
    await contains(".o-mail-NotificationItem-text", {
        text: "A messenger message could not be delivered",
    });
    await click(".o-mail-NotificationItem:has(.o-mail-NotificationItem-text:contains(could not be delivered))");
    await contains(".o-mail-ChatWindow .o-mail-Message:contains(Hello again)");
});

test("the agent's chat window opens by itself when the person writes", async () => {
    const pyEnv = await startServer();
    const { channelId, partnerId } = await messengerChat(pyEnv, {
        agent: { id: serverState.userId, name: "Mitchell Admin", partner_id: serverState.partnerId },
    });
    await start();
    await contains(".o_menu_systray i[aria-label='Messages']");
    pyEnv["discuss.channel"].message_post(
        channelId,
        makeKwArgs({
            author_id: partnerId,
            body: "Are you there?",
            message_type: "comment",
            subtype_xmlid: "mail.mt_comment",
        })
    );
    await contains(".o-mail-ChatWindow .o-mail-Message:contains(Are you there?)");
});

test("a file sent to the person has no trash icon; a file of an internal note keeps it", async () => {
    const pyEnv = await startServer();
    const { channelId } = await messengerChat(pyEnv);
    const [sentFile, noteFile] = pyEnv["ir.attachment"].create([
        { name: "quote.pdf", mimetype: "application/pdf", res_id: channelId, res_model: "discuss.channel" },
        { name: "draft.pdf", mimetype: "application/pdf", res_id: channelId, res_model: "discuss.channel" },
    ]);
    pyEnv["mail.message"].create({
        attachment_ids: [sentFile],
        author_id: serverState.partnerId,
        body: "Here is the quote",
        message_type: "comment",
        model: "discuss.channel",
        res_id: channelId,
        messengerState: { id: 43, state: "delivered", label: "Delivered", direction: "out", error: false },
    });
    pyEnv["mail.message"].create({
        attachment_ids: [noteFile],
        author_id: serverState.partnerId,
        body: "Draft for colleagues",
        message_type: "comment",
        model: "discuss.channel",
        res_id: channelId,
        messengerNote: true,
    });
    await start();
    await openDiscuss(channelId);
    await contains(".o-mail-Message:contains(Draft for colleagues) .o-mail-AttachmentCard-unlink");
    await contains(".o-mail-Message:contains(Here is the quote) .o-mail-AttachmentCard", { text: "quote.pdf" });
    await contains(".o-mail-Message:contains(Here is the quote) .o-mail-AttachmentCard-unlink", { count: 0 });
});

test("nobody is invited into a messenger chat: its members follow the conversation's access", async () => {
    const pyEnv = await startServer();
    const { channelId } = await messengerChat(pyEnv);
    const otherId = pyEnv["discuss.channel"].create({
        name: "General",
        channel_type: "channel",
        channel_member_ids: [Command.create({ partner_id: serverState.partnerId })],
    });
    await start();
    await openDiscuss(otherId);
    await contains(".o-mail-Discuss-header button[title='Invite People']");
    await openDiscuss(channelId);
    await contains(".o-messenger-ComposerBar");
    await contains(".o-mail-Discuss-header button[title='Invite People']", { count: 0 });
});

test("a sent WhatsApp message shows how it was priced: free in the service window or billed", async () => {
    const pyEnv = await startServer();
    const { channelId } = await messengerChat(pyEnv);
    const state = { state: "delivered", label: "Delivered", direction: "out", error: false };
    pyEnv["mail.message"].create({
        author_id: serverState.partnerId,
        body: "Your order shipped",
        message_type: "comment",
        model: "discuss.channel",
        res_id: channelId,
        messengerState: {
            ...state,
            id: 51,
            pricing: { billed: false, free: true, label: "Free: service window · service" },
        },
    });
    pyEnv["mail.message"].create({
        author_id: serverState.partnerId,
        body: "Spring sale",
        message_type: "comment",
        model: "discuss.channel",
        res_id: channelId,
        messengerState: { ...state, id: 52, pricing: { billed: true, free: false, label: "Billed · marketing" } },
    });
    pyEnv["mail.message"].create({
        author_id: serverState.partnerId,
        body: "No pricing yet",
        message_type: "comment",
        model: "discuss.channel",
        res_id: channelId,
        messengerState: { ...state, id: 53, pricing: false },
    });
    await start();
    await openDiscuss(channelId);
    await contains(".o-mail-Message:contains(Your order shipped) .o-messenger-pricing.text-bg-light", {
        text: "Free: service window · service",
    });
    await contains(".o-mail-Message:contains(Spring sale) .o-messenger-pricing.text-bg-info", {
        text: "Billed · marketing",
    });
    await contains(".o-mail-Message:contains(No pricing yet) .o-messenger-pricing", { count: 0 });
});

test("a WhatsApp user without a visible number: username shown, Request Contact Info in the chat", async () => {
    const pyEnv = await startServer();
    const { channelId } = await messengerChat(pyEnv, {
        number: "US.13491208655302741918",
        username: "realsheenanelson",
        asks_contact_info: true,
    });
    onRpc("messenger.conversation", "action_request_contact_info", ({ args }) => {
        step(`request ${args[0][0]}`);
        return 1;
    });
    await start();
    await openDiscuss(channelId);
    await contains(".o-messenger-channel", { text: "Shop WhatsApp · US.13491208655302741918 · @realsheenanelson" });
    await click(".o-messenger-request-contact");
    await assertSteps(["request 7"]);
});

test("a chat whose number is known offers no contact info request", async () => {
    const pyEnv = await startServer();
    const { channelId } = await messengerChat(pyEnv);
    await start();
    await openDiscuss(channelId);
    await contains(".o-messenger-ComposerBar");
    await contains(".o-messenger-request-contact", { count: 0 });
});
