import { assertSteps, startServer, step } from "@mail/../tests/mail_test_helpers";
import { hrModels } from "@hr/../tests/hr_test_helpers";
import { describe, expect, test } from "@odoo/hoot";
import { advanceTime } from "@odoo/hoot-mock";
import {
    defineModels,
    fields,
    models,
    mountView,
    onRpc,
    serverState,
} from "@web/../tests/web_test_helpers";

import { REFRESH_EVERY_MS, UPDATE_AT_MOST_EVERY_MS } from "@messenger_connector/inbox/live_inbox";

class MessengerConversation extends models.Model {
    _name = "messenger.conversation";
    name = fields.Char();
    state = fields.Selection({
        selection: [
            ["waiting", "Waiting for Reply"],
            ["answered", "Answered"],
            ["closed", "Closed"],
        ],
    });
    waiting_minutes = fields.Integer();
    _records = [
        { id: 1, name: "Dora Discuss", state: "waiting", waiting_minutes: 12 },
        { id: 2, name: "Tom Telegram", state: "waiting", waiting_minutes: 3 },
    ];
}

describe.current.tags("desktop");
defineModels({ ...hrModels, MessengerConversation });

async function mountInbox(groupBy = []) {
    onRpc("messenger.conversation", "web_search_read", () => {
        step("read the list");
    });
    onRpc("messenger.conversation", "web_read_group", () => {
        step("read the groups");
    });
    onRpc("messenger.conversation", "web_read", ({ args }) => {
        step(`read rows ${args[0]}`);
    });
    await mountView({
        type: "list",
        resModel: "messenger.conversation",
        groupBy,
        arch: `<list js_class="messenger_live_inbox" expand="1">
            <field name="name"/><field name="state"/><field name="waiting_minutes"/>
        </list>`,
    });
}

function notice(pyEnv, payload) {
    pyEnv["bus.bus"]._sendone(serverState.partnerId, "messenger.inbox/updated", payload);
}

test("the live inbox reads again only the rows that changed, at most once a second", async () => {
    const pyEnv = await startServer();
    await mountInbox();
    await assertSteps(["read the list"]);
    pyEnv["messenger.conversation"].write([1], { waiting_minutes: 0, state: "answered" });
    notice(pyEnv, { ids: [1], list_changed: false });
    notice(pyEnv, { ids: [1], list_changed: false });
    notice(pyEnv, { ids: [1], list_changed: false });
    await advanceTime(UPDATE_AT_MOST_EVERY_MS / 2);
    await assertSteps([]);
    await advanceTime(UPDATE_AT_MOST_EVERY_MS);
    await assertSteps(["read rows 1"]);
    expect(".o_data_row:first .o_data_cell[name=waiting_minutes]").toHaveText("0");
    notice(pyEnv, { ids: [2], list_changed: true });
    await advanceTime(UPDATE_AT_MOST_EVERY_MS);
    await assertSteps(["read the list"], "a new conversation: the list is read again");
    await advanceTime(REFRESH_EVERY_MS);
    await assertSteps(["read the list"], "waiting times move on: every minute");
});

test("grouped by state: a row that moves to another group reads the list again", async () => {
    const pyEnv = await startServer();
    await mountInbox(["state"]);
    await assertSteps(["read the groups", "read the list"]);
    pyEnv["messenger.conversation"].write([2], { waiting_minutes: 5 });
    notice(pyEnv, { ids: [2], list_changed: false });
    await advanceTime(UPDATE_AT_MOST_EVERY_MS);
    await assertSteps(["read rows 2"]);
    pyEnv["messenger.conversation"].write([1], { state: "closed" });
    notice(pyEnv, { ids: [1], list_changed: false });
    await advanceTime(UPDATE_AT_MOST_EVERY_MS);
    await assertSteps(["read rows 1", "read the groups", "read the list", "read the list"]);
});
