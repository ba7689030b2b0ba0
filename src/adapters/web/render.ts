/** The web UI's views, one module per page part (views/); the page data they render (task-data.ts). */
export { continuePage, layout, messagePage, refusalPage, type PageOptions } from './views/layout.js';
export { listPage, summarize, taskRow, type TaskSummary } from './views/task-list.js';
export { taskLive, taskPage } from './views/task-page.js';
export { loadTaskPage, readTaskFile, type ShownFile, type TaskPageData } from './task-data.js';
