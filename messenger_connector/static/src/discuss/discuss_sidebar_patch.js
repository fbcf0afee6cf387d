import { DiscussAppCategory } from "@mail/core/public_web/discuss_app_category_model";
import {
    DiscussSidebarCategories,
} from "@mail/discuss/core/public_web/discuss_sidebar_categories";
import { cleanTerm } from "@mail/utils/common/format";

import { patch } from "@web/core/utils/patch";

import { compareMessengerChats } from "./thread_model_patch";

patch(DiscussAppCategory.prototype, {
    sortThreads(t1, t2) {
        if (this.id === "messenger_connector.category") {
            return compareMessengerChats(t1, t2);
        }
        return super.sortThreads(t1, t2);
    },
});

/** Whether a messenger chat matches the sidebar's search: by the person's name or number (any writing). */
export function messengerChatMatches(thread, term) {
    if (cleanTerm(thread.displayName).includes(cleanTerm(term))) {
        return true;
    }
    const digits = term.replace(/\D/g, "");
    const number = (thread.messenger?.number || "").replace(/\D/g, "");
    return digits.length >= 3 && number.includes(digits.replace(/^00/, "").replace(/^0/, ""));
}

patch(DiscussSidebarCategories.prototype, {
    filteredThreads(threads) {
        const term = this.state.quickSearchVal;
        if (!term) {
            return super.filteredThreads(threads);
        }
        const messengerChats = threads.filter(
            (thread) => thread.channel_type === "messenger" && thread.displayInSidebar
        );
        const others = super.filteredThreads(threads.filter((t) => t.channel_type !== "messenger"));
        return [...others, ...messengerChats.filter((thread) => messengerChatMatches(thread, term))];
    },
    get hasQuickSearch() {
        // agents look chats up by name or number as soon as they have any
        return (
            super.hasQuickSearch ||
            Object.values(this.store.Thread.records).some(
                (thread) => thread.channel_type === "messenger" && thread.is_pinned
            )
        );
    },
});
