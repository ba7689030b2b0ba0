import { z } from 'zod';
import { describeError } from '../../core/errors.js';
import type { TaskView } from '../../core/model/task.js';
import type { Workspace } from '../../core/workspace.js';
import { effectiveLimits } from '../budget.js';
import { isTrustedActor, profileRef, resolveProfile, type Profile } from '../../core/security-profiles.js';
import { PlanSchema, renderPlanMarkdown, type Plan } from '../plan.js';
import { retryLater, runTurns } from '../turns.js';
import { latestPlanVersion } from '../commands.js';
import { DEV_WORKSTREAM } from '../dev-workstream.js';
import { assertPriced, roleModel } from '../model-runtime.js';
import { loadPromptSet, PROMPT_SETS } from '../prompts.js';
import { resolveTarget, type Target } from '../target.js';
import { planSetupFromNames, REPO_SETUP_FILE } from '../setup.js';
import { currentRound, previousRoundBriefing, roundStart } from '../rounds.js';
import { git } from '../../vcs/git.js';
import { repoReader } from '../tools/repo-reader.js';
import { contextRefsText, contextTools, CONTEXT_TOOL_NAMES } from '../tools/context-tools.js';
import { loopActor } from '../../core/actor.js';
import type { ChatMessage, ToolSpec } from '../../providers/types.js';
import type { Loop, LoopEnv } from '../../loops/loop.js';
import { failTask, stillInState } from './step-outcome.js';
import { TaskLoop } from '../../loops/task-loop.js';

/** The tool's parameters come from PlanSchema, the same schema the submitted plan is checked with. */
const { $schema: _dialect, ...planParameters } = z.toJSONSchema(PlanSchema, { io: 'input' });
const SUBMIT_PLAN: ToolSpec = {
  name: 'submit_plan',
  description: 'Submit the finished plan. Call exactly once, after exploring the repository.',
  parameters: planParameters,
};

/** `readAt`: the commit the planner reads (the base, or in a follow-up round the branch's pushed tip). */
async function briefing(ws: Workspace, task: TaskView, target: Target, profile: Profile, readAt: string): Promise<string> {
  const root = (await git(target.objects, ['ls-tree', '--name-only', readAt]).catch(() => '')).split('\n').filter(Boolean);
  // The setup file is looked up only when its directory is there (one git process in the common case).
  const setupDir = REPO_SETUP_FILE.split('/')[0]!;
  const repoSetupFile = root.includes(setupDir) && (await git(target.objects, ['ls-tree', '--name-only', readAt, '--', REPO_SETUP_FILE]).catch(() => '')).trim() !== '';
  const setup = planSetupFromNames(task, ws.config, root, repoSetupFile);
  const test = (typeof task.fields.test === 'string' && task.fields.test) || ws.config.testCommand;
  const parts = [
    `Task: ${task.title}`,
    '',
    task.description || '(no description)',
    '',
    `Repository: ${String(task.fields.repo)} (base branch ${target.base.branch})`,
    `Setup step before the tests: ${setup ? `${setup.command} (${setup.source})` : 'none (no lockfile or .orchestra/setup.sh)'}`,
    `Test command: ${test || 'detected from the repository when the execution starts'}`,
  ];
  const previous = task.dev.plans.at(-1);
  // In a follow-up round only this round's plans count as "your plan": the previous round's comes with its result.
  const revising = previous && (task.dev.round < 2 || currentRound(task).plans.includes(previous.version));
  const feedback = task.dev.feedback.filter((f) => f.onVersion === previous?.version);
  if (task.dev.round >= 2) parts.push('', ...(await previousRoundBriefing(ws, task, target.objects, readAt)));
  if (previous && revising && feedback.length) {
    parts.push('', `You proposed plan v${previous.version}:`, '', await ws.readWorkspaceFile(previous.file), '', 'The developer answered:', ...feedback.map((f) => `> ${f.text}`), '', `Make plan v${previous.version + 1}: revise the plan to address this feedback, then call submit_plan.`);
  } else if (task.dev.round >= 2) {
    parts.push('', `Make plan v${(previous?.version ?? 0) + 1} for round ${task.dev.round}: only the changes still needed on top of the branch. Explore the repository, then call submit_plan.`);
  } else {
    parts.push('', 'Explore the repository, then call submit_plan.');
  }
  parts.push('', await contextRefsText(ws, { taskId: task.id, repo: String(task.fields.repo), profile }));
  return parts.join('\n');
}

/** Planning: Claude reads the repo at the base commit and proposes plan vN via submit_plan. */
export function createPlannerLoop(env: LoopEnv): Loop {
  const { ws } = env;
  return new TaskLoop(env, {
    name: 'planner',
    purpose: 'plan',
    wants: (task) => task.workstream === DEV_WORKSTREAM && task.state === 'planning',
    keepWorkingWhile: (task) => task.state === 'planning',
    giveUp: (lease, reason) => failTask(lease, 'plan', reason),
    async work({ lease, task, signal }) {
      try {
        const profile = resolveProfile(ws.config, 'planner');
        const limits = effectiveLimits(ws.config.limits, task, { trusted: isTrustedActor(ws.config, task.createdBy), budget: profile.budget });
        const maxTurns = Math.min(limits.plannerMaxTurns, profile.budget.maxTurns ?? Infinity);
        const target = await resolveTarget(ws, task);
        // A follow-up round reads the branch it builds on (BRANCH_DIVERGED when someone rewrote it).
        const readAt = (await roundStart(ws, task, target))?.commit ?? target.base.commit;
        const tools = repoReader(target.objects, readAt);
        const context = contextTools(ws, { role: 'planner', taskId: task.id, repo: String(task.fields.repo), actor: loopActor('planner'), profile });
        const model = roleModel(ws, ws.config.planner);
        assertPriced(ws, model);
        const messages: ChatMessage[] = [{ role: 'user', text: await briefing(ws, task, target, profile, readAt) }];
        const outcome = await runTurns<Plan>({
          ws, lease, role: 'planner', model, messages, signal, maxTurns, profile,
          prompts: () => loadPromptSet(ws, PROMPT_SETS.planner),
          tools: [...tools.specs, ...context.specs, SUBMIT_PLAN],
          onText: () => ({ nudge: 'Please finish by calling submit_plan with summary, steps, criteria and risks.' }),
          async runCall(call) {
            if (CONTEXT_TOOL_NAMES.has(call.name)) return context.run(call);
            if (call.name !== 'submit_plan') return tools.run(call);
            const plan = PlanSchema.safeParse(call.args);
            if (plan.success) return { output: 'plan received', isError: false, done: plan.data };
            const issue = plan.error.issues[0]!;
            return { output: `plan refused: ${issue.path.join('.')}: ${issue.message}; call submit_plan again`, isError: true };
          },
        });
        if (outcome.kind === 'aborted') return;
        if (outcome.kind !== 'done') {
          await failTask(lease, 'plan', outcome.kind === 'stopped' ? outcome.reason : `the planner did not submit a plan within ${maxTurns} turns`);
          return;
        }
        if (!(await stillInState(ws, task.id, 'planning'))) return;
        const version = latestPlanVersion(await ws.task(task.id)) + 1;
        const file = await ws.writeTaskFile(task.id, `plan-v${version}.md`, renderPlanMarkdown(task.title, version, outcome.value), { onTaken: 'newName' });
        // Aborted (or otherwise moved) while planning: the plan is not proposed, the task stays.
        await lease.release((view) => (view.state !== 'planning' ? [] : [
          { type: 'plan.proposed', data: { version, file, base: target.base.branch, baseCommit: readAt, ...outcome.value, ...profileRef(profile) } },
          { type: 'task.moved', data: { from: 'planning', to: 'planned', reason: `plan v${version} ready for review` } },
        ]), 'planned');
        env.log.info('plan proposed', { task: task.id, version });
      } catch (err) {
        if (signal.aborted) return;
        const { code, message } = describeError(err);
        if (code === 'LEASE_LOST') return;
        if (retryLater(err, task.attempts)) {
          env.log.warn('planner call failed, will retry', { task: task.id, message });
          return; // lease released by the runner; the next scan tries again
        }
        await failTask(lease, 'plan', message).catch(() => undefined);
      }
    },
  });
}
