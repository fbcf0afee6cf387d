import { assertSteps, startServer, step } from "@mail/../tests/mail_test_helpers";
import { hrModels } from "@hr/../tests/hr_test_helpers";
import { describe, test } from "@odoo/hoot";
import { advanceTime } from "@odoo/hoot-mock";
import {
    defineModels,
    fields,
    models,
    mountView,
    onRpc,
    serverState,
} from "@web/../tests/web_test_helpers";

import { REFRESH_EVERY_MS } from "@messenger_connector/inbox/live_inbox";

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
    _records = [{ id: 1, name: "Dora Discuss", state: "waiting", waiting_minutes: 12 }];
}

describe.current.tags("desktop");
defineModels({ ...hrModels, MessengerConversation });

test("the live inbox reads the conversations again when one changes, and every minute", async () => {
    const pyEnv = await startServer();
    onRpc("messenger.conversation", "web_search_read", () => {
        step("read");
    });
    await mountView({
        type: "list",
        resModel: "messenger.conversation",
        arch: `<list js_class="messenger_live_inbox">
            <field name="name"/><field name="state"/><field name="waiting_minutes"/>
        </list>`,
    });
    await assertSteps(["read"]);
    pyEnv["bus.bus"]._sendone(serverState.partnerId, "messenger.inbox/updated", {});
    await assertSteps(["read"]);
    await advanceTime(REFRESH_EVERY_MS);
    await assertSteps(["read"]);
});
