import { randomBytes } from 'node:crypto';
import { RETENTION_MS, type SmhSandbox } from './smh';

/** The demo SMH library `npm start` and `npm run sandbox` serve, with a task in every status. */
export const DEMO_LIBRARY_ID = 'smhdemo';

export const DEMO_SMH_TASKS = [
  { taskId: '1', spaceId: '-', status: 202, note: 'running' },
  {
    taskId: '2',
    spaceId: '-',
    status: 200,
    note: 'succeeded with a result',
    result: {
      path: ['docs', 'report.pdf'],
      convertFrom: ['docs', 'report.docx'],
      srcInode: '17abb6f0dc6626f4',
      dstInode: '10820f030bc92a76',
    },
  },
  { taskId: '3', spaceId: '-', status: 204, note: 'succeeded, no result' },
  { taskId: '4', spaceId: '-', status: 500, note: 'failed' },
  {
    taskId: '5',
    spaceId: '-',
    status: 207,
    note: 'partly succeeded',
    result: { failed: ['docs/locked.docx'] },
  },
  { taskId: '6', spaceId: '-', status: 400, note: 'all items failed' },
  {
    taskId: '7',
    spaceId: '-',
    status: 200,
    note: 'finished 31 days ago: no longer known',
    finishedDaysAgo: 31,
  },
  {
    taskId: '8',
    spaceId: null,
    status: 200,
    note: 'library level (history clearing)',
    result: { deleteCount: 12 },
  },
] as const;

/**
 * Serves the demo library with `secret`, and its demo tasks where the sandbox does not have them yet (a task
 * set or changed through the admin API, and restored from the state file, stays as it is).
 */
export function seedDemoLibrary(smh: SmhSandbox, secret = randomBytes(18).toString('base64url')): string {
  smh.setLibrary({ libraryId: DEMO_LIBRARY_ID, secret });
  const present = new Set(
    smh
      .listTasks()
      .filter((t) => t.libraryId === DEMO_LIBRARY_ID)
      .map((t) => t.taskId),
  );
  for (const task of DEMO_SMH_TASKS) {
    if (present.has(task.taskId)) continue;
    smh.setTask({
      libraryId: DEMO_LIBRARY_ID,
      spaceId: task.spaceId,
      taskId: task.taskId,
      status: task.status,
      result: 'result' in task ? { ...task.result } : null,
      finishedAt: 'finishedDaysAgo' in task ? smh.now() - RETENTION_MS - 24 * 3600 * 1000 : undefined,
    });
  }
  return secret;
}
