import { onWillUnmount } from "@odoo/owl";
import { listView } from "@web/views/list/list_view";
import { ListController } from "@web/views/list/list_controller";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

/** Waiting times move on even when nothing is written: the list is read again every minute. */
export const REFRESH_EVERY_MS = 60000;

/** The supervisors' live inbox: read again whenever a conversation changes (bus), without a reload. */
export class LiveInboxListController extends ListController {
    setup() {
        super.setup();
        const bus = useService("bus_service");
        const reload = () => this.model.load();
        bus.subscribe("messenger.inbox/updated", reload);
        const timer = setInterval(reload, REFRESH_EVERY_MS);
        onWillUnmount(() => {
            bus.unsubscribe("messenger.inbox/updated", reload);
            clearInterval(timer);
        });
    }
}

registry.category("views").add("messenger_live_inbox", {
    ...listView,
    Controller: LiveInboxListController,
});
