import { onWillUnmount } from "@odoo/owl";
import { listView } from "@web/views/list/list_view";
import { ListController } from "@web/views/list/list_controller";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

/** Waiting times move on even when nothing is written: the list is read again every minute. */
export const REFRESH_EVERY_MS = 60000;
/** Under load the bus tells of changes several times a second: the list follows at most once a second. */
export const UPDATE_AT_MOST_EVERY_MS = 1000;

/**
 * The supervisors' live inbox: follows the conversations' changes (bus) without a reload. Only the rows that
 * changed are read again, unless a new conversation came or a row moved to another group: then the list is.
 */
export class LiveInboxListController extends ListController {
    setup() {
        super.setup();
        const bus = useService("bus_service");
        this.inboxChanged = new Set();
        this.inboxReloadAll = false;
        this.inboxTimer = null;
        const onUpdated = (payload) => this.inboxNoteChanges(payload);
        const reload = () => this.model.load();
        bus.subscribe("messenger.inbox/updated", onUpdated);
        const timer = setInterval(reload, REFRESH_EVERY_MS);
        onWillUnmount(() => {
            bus.unsubscribe("messenger.inbox/updated", onUpdated);
            clearInterval(timer);
            clearTimeout(this.inboxTimer);
        });
    }

    inboxNoteChanges(payload) {
        if (payload?.ids) {
            payload.ids.forEach((id) => this.inboxChanged.add(id));
        } else {
            this.inboxReloadAll = true;
        }
        if (payload?.list_changed) {
            this.inboxReloadAll = true;
        }
        if (!this.inboxTimer) {
            this.inboxTimer = setTimeout(() => this.inboxUpdate(), UPDATE_AT_MOST_EVERY_MS);
        }
    }

    async inboxUpdate() {
        const ids = [...this.inboxChanged];
        let reloadAll = this.inboxReloadAll;
        this.inboxChanged.clear();
        this.inboxReloadAll = false;
        try {
            const root = this.model.root;
            const rows = root.records.filter((record) => ids.includes(record.resId));
            if (rows.length < ids.length) {
                // a conversation not shown (new, on another page, in a folded group): the list changes
                reloadAll = true;
            }
            if (!reloadAll && rows.length) {
                const groupFields = root.groupBy.map((spec) => spec.split(":")[0]);
                const groupOf = (record) => JSON.stringify(groupFields.map((name) => record.data[name]));
                const before = rows.map(groupOf);
                await Promise.all(rows.map((record) => record.load()));
                reloadAll = rows.some((record, index) => groupOf(record) !== before[index]);
            }
            if (reloadAll) {
                await this.model.load();
            }
        } finally {
            this.inboxTimer = null;
        }
    }
}

registry.category("views").add("messenger_live_inbox", {
    ...listView,
    Controller: LiveInboxListController,
});
