import { describeError } from '../../core/errors.js';
import type { Lease } from '../../core/leases.js';
import type { TaskView } from '../../core/model/task.js';
import type { Workspace } from '../../core/workspace.js';
import { detectTestCommand } from '../../exec/detect-test.js';
import { runSandboxed } from '../../exec/sandbox.js';
import { profileSandboxOptions } from '../../exec/profile-sandbox.js';
import { checkTaskCommands, isTrustedActor, profileRef, resolveProfile, writeRefusal, type Profile } from '../../core/security-profiles.js';
import { safeRelative } from '../tools/common.js';
import { effectiveLimits, exceededLimit, type Spent } from '../budget.js';
import { DEV_WORKSTREAM } from '../dev-workstream.js';
import { assertPriced, roleModel } from '../model-runtime.js';
import { retryLater, runTurns } from '../turns.js';
import { recordedSetup, setupTail, worktreeEnv } from '../setup-run.js';
import { loadPromptSet, PROMPT_SETS } from '../prompts.js';
import { executionTarget, resolveTarget } from '../target.js';
import { roundStart } from '../rounds.js';
import { worktreeTools } from '../tools/worktree-tools.js';
import { contextRefsText, contextTools, CONTEXT_TOOL_NAMES } from '../tools/context-tools.js';
import { loopActor } from '../../core/actor.js';
import { publishScanSecrets } from '../granted-secrets.js';
import { SecretScanner } from '../../core/secret-scan.js';
import type { ChatMessage, ToolCall, ToolSpec } from '../../providers/types.js';
import { diffAgainstBase } from '../../vcs/changes.js';
import { addWorktreeAt, prepareWorktree, type PreparedWorktree } from '../../vcs/worktree.js';
import type { PlanRef } from '../dev-fold.js';
import type { Loop, LoopEnv } from '../../loops/loop.js';
import { failTask } from './step-outcome.js';
import { TaskLoop } from '../../loops/task-loop.js';

const RUN_TESTS: ToolSpec = { name: 'run_tests', description: "Run the project's test command in a sandbox and return the result and output.", parameters: { type: 'object', properties: {} } };
const FINISH: ToolSpec = { name: 'finish', description: 'Declare the task done, with a short summary of the changes. Refused unless the tests passed after the last edit.', parameters: { type: 'object', properties: { summary: { type: 'string' } }, required: ['summary'] } };

interface Execution { worktree: string; branch: string; base: string; baseCommit: string; number: number }

/** Starts (from `approved`) or resumes (an `executing` task whose holder died) an execution. */
async function beginExecution(ws: Workspace, lease: Lease, task: TaskView, profile: Profile): Promise<Execution | undefined> {
  if (task.state === 'executing' && task.dev.execution) {
    const e = task.dev.execution;
    // A follow-up round's worktree, if it vanished, is made again on the commit the round started from.
    await prepareWorktree({ repoPath: (await executionTarget(ws, task, e)).objects, worktreesDir: ws.paths.worktrees, taskId: task.id, base: e.base, ...(task.dev.round > 1 ? { startAt: e.baseCommit } : {}) });
    await lease.append([{ type: 'exec.resumed', data: { attempt: lease.attempt } }]);
    return { worktree: e.worktree, branch: e.branch, base: e.base, baseCommit: e.baseCommit, number: task.dev.executions };
  }
  const plan = task.dev.plans.find((p) => p.version === task.dev.approvedVersion);
  if (!plan) return undefined;
  const wt = (await forkAtPlannedBase(ws, task, plan)) ?? (await resolveAndPrepare(ws, task));
  const { record } = await lease.append((view) => (view.state !== 'approved' ? null : [
    { type: 'exec.started', data: { worktree: wt.path, branch: wt.branch, base: wt.base, baseCommit: wt.baseCommit, planVersion: plan.version, ...profileRef(profile) } },
    { type: 'task.moved', data: { from: 'approved', to: 'executing', reason: `executing plan v${plan.version} on ${wt.branch}` } },
  ]));
  if (!record) return undefined;
  return { worktree: wt.path, branch: wt.branch, base: wt.base, baseCommit: wt.baseCommit, number: task.dev.executions + 1 };
}

/**
 * Round 1: the branch forks at the commit the approved plan was made on (recorded with the plan),
 * so the base is resolved once per task and the executor neither fetches nor reads refs. Undefined
 * (the caller resolves afresh) when the plan has no recorded base or the fast path cannot apply.
 */
async function forkAtPlannedBase(ws: Workspace, task: TaskView, plan: PlanRef): Promise<PreparedWorktree | undefined> {
  if (task.dev.round > 1 || !plan.base || !plan.baseCommit) return undefined;
  try {
    const target = await executionTarget(ws, task, { base: plan.base, baseCommit: plan.baseCommit });
    return await addWorktreeAt({ repoPath: target.objects, worktreesDir: ws.paths.worktrees, taskId: task.id, base: plan.base, commit: plan.baseCommit });
  } catch {
    return undefined;
  }
}

/** The base resolved now (fetch, base detection; a follow-up round's start), then the worktree. */
async function resolveAndPrepare(ws: Workspace, task: TaskView): Promise<PreparedWorktree> {
  const target = await resolveTarget(ws, task);
  // A follow-up round starts on top of the pushed branch (BRANCH_DIVERGED when someone rewrote it).
  const start = await roundStart(ws, task, target);
  const wt = await prepareWorktree({ repoPath: target.objects, worktreesDir: ws.paths.worktrees, taskId: task.id, base: target.base.branch, ...(start ? { startAt: start.commit } : target.refs ? { refs: target.refs } : {}) });
  return wt;
}

async function openingMessage(ws: Workspace, task: TaskView, resumed: boolean, profile: Profile): Promise<string> {
  const plan = task.dev.plans.find((p) => p.version === task.dev.approvedVersion)!;
  return [
    `Task: ${task.title}`, '', task.description || '(no description)', '',
    `The approved plan (v${plan.version}):`, '', await ws.readWorkspaceFile(plan.file), '',
    await contextRefsText(ws, { taskId: task.id, repo: String(task.fields.repo), profile }), '',
    ...(task.dev.round > 1 ? [`This is round ${task.dev.round}: the branch already holds the earlier rounds' work (your worktree starts at commit ${task.dev.execution?.baseCommit.slice(0, 10) ?? 'its pushed tip'}); make only the changes this plan asks for.`, ''] : []),
    resumed
      ? 'This run resumes after an interruption: the worktree already holds the earlier edits. Run the tests first to see where things stand.'
      : 'Carry out the plan. Edit, run the tests, fix failures, and call finish when the tests pass.',
  ].join('\n');
}

/** Execution: Gemini edits a worktree on task/<id>, runs the tests, fixes, and finishes green. */
export function createExecutorLoop(env: LoopEnv): Loop {
  const { ws, log } = env;
  return new TaskLoop(env, {
    name: 'executor',
    purpose: 'execute',
    // A run whose holder died is resumed in its worktree, so only by the machine that has it (spec §20).
    wants: (task) => task.workstream === DEV_WORKSTREAM && ((task.state === 'approved' && task.dev.approvedVersion !== undefined) || (task.state === 'executing' && ws.acceptance.holdsLocally(task.dev.execution?.worktree))),
    keepWorkingWhile: (task) => task.state === 'executing' || task.state === 'approved',
    giveUp: (lease, reason) => failTask(lease, 'execute', reason),
    async work({ lease, task, signal: loopSignal }) {
      const resumed = task.state === 'executing';
      let exec: Execution | undefined;
      // Aborted (stop at the next safe point) when the loop stops, the lease is lost, or the task
      // leaves approved/executing (an abort by a person): see keepWorkingWhile.

      const saveWork = async (label: string): Promise<string | undefined> => {
        if (!exec) return undefined;
        const diff = await diffAgainstBase(exec.worktree, exec.baseCommit, { secrets: await scanSecrets() }).catch(() => undefined);
        if (!diff || !diff.patch.trim()) return undefined;
        return ws.writeTaskFile(task.id, `exec${exec.number}-${label}.diff`, diff.patch, { onTaken: 'newName' });
      };
      // Kept diffs are scanned for the context secrets granted to the task too (opened once, audited).
      let scanList: Promise<Awaited<ReturnType<typeof publishScanSecrets>>> | undefined;
      const scanSecrets = () => (scanList ??= publishScanSecrets(ws, task, 'executor'));
      // A granted secret the setup step left in the worktree (an .npmrc line) is masked, exact or
      // encoded, in everything a tool hands the model and in the recorded test output: it never
      // reaches the provider, a tool.refused record or a record file.
      let masker: Promise<SecretScanner | undefined> | undefined;
      const maskGranted = async (text: string): Promise<string> => {
        // Only the granted values: process variables are masked in command output by the sandbox already.
        const granted = (list: Awaited<ReturnType<typeof scanSecrets>>) => (list ?? []).filter((s) => s.name.startsWith('context secret '));
        const scanner = await (masker ??= scanSecrets().then((list) => (granted(list).length ? new SecretScanner(granted(list)) : undefined)));
        return scanner ? scanner.redact(text) : text;
      };
      const userAborted = async () => (await ws.findTask(task.id))?.state === 'aborted';

      try {
        const profile = resolveProfile(ws.config, 'executor');
        const testsProfile = resolveProfile(ws.config, 'tests');
        // Defence in depth: intake refuses these already; a task that got past it (made before a
        // config change, or forged) is refused here with COMMAND_NOT_ALLOWED, before anything runs.
        checkTaskCommands(ws.config, task.fields, task.createdBy);
        const limits = effectiveLimits(ws.config.limits, task, { trusted: isTrustedActor(ws.config, task.createdBy), budget: profile.budget });
        exec = await beginExecution(ws, lease, task, profile);
        if (!exec) return;
        const current = await ws.task(task.id);
        const testCommand = (typeof task.fields.test === 'string' && task.fields.test) || ws.config.testCommand || (await detectTestCommand(exec.worktree));
        if (!testCommand) {
          await failTask(lease, 'execute', 'no test command: set the task field "test" or the config "testCommand" (none was detected in the repository)');
          return;
        }
        // The setup step (dependencies) runs once per execution, before any model turn.
        let setup = current.dev.setup;
        if (!setup?.passed) {
          const ran = await recordedSetup(ws, lease, current, exec, String(task.fields.repo), loopSignal);
          if (!ran.passed) {
            if (loopSignal.aborted) throw new Error('stopped during setup');
            await failTask(lease, 'setup', `setup failed: \`${ran.plan?.command}\` ${ran.exitCode === null ? 'was stopped' : `exited ${ran.exitCode}`} (output in ${ran.file}): ${setupTail(ran)}`);
            return;
          }
          setup = (await ws.task(task.id)).dev.setup;
        }
        const setupNote = !setup || setup.source === 'none' ? 'setup: none needed' : `setup: ${setup.command} (${setup.cached ? 'restored from the dependency cache' : 'installed'})`;
        const tools = worktreeTools(exec.worktree);
        const context = contextTools(ws, { role: 'executor', taskId: task.id, repo: String(task.fields.repo), actor: loopActor('executor'), profile });
        const model = roleModel(ws, ws.config.executor);
        assertPriced(ws, model);
        const spent: Spent = { turns: current.dev.turns, testRuns: current.dev.testRuns.length, ...current.dev.runUsage, startedAt: Date.parse(current.dev.execution!.startedAt) };
        let greenAtEdit = -1;
        const messages: ChatMessage[] = [{ role: 'user', text: await openingMessage(ws, current, resumed, profile) }];

        const outcome = await runTurns<string>({
          ws, lease, role: 'executor', model, messages, signal: loopSignal, profile, maxTurns: Number.MAX_SAFE_INTEGER, // limits.maxTurns is a budget: beforeTurn
          prompts: () => loadPromptSet(ws, PROMPT_SETS.executor),
          tools: [...tools.specs, ...context.specs, RUN_TESTS, FINISH],
          beforeTurn: () => exceededLimit(limits, spent),
          afterReply: (reply, costUsd) => {
            spent.turns++;
            spent.inputTokens += reply.usage.inputTokens;
            spent.outputTokens += reply.usage.outputTokens;
            spent.costUsd += costUsd;
          },
          onText: () => ({ nudge: 'Continue with the tools. Call finish once the tests pass.' }),
          runCall: async (call) => {
            const result = await runCall(call);
            return { ...result.outcome, output: await maskGranted(result.outcome.output), ...(result.finished !== undefined ? { done: result.finished } : {}) };
          },
        });
        if (outcome.kind === 'stopped') {
          const patchFile = await saveWork('patch');
          // The saved patch is named once, by its own field (every view shows it next to the reason).
          await failTask(lease, 'execute', `Stopped: ${outcome.reason}.${patchFile ? ' The work so far is saved as a patch.' : ''}`, patchFile ? { patchFile } : {});
          log.warn('execution stopped by a limit', { task: task.id, reason: outcome.reason });
          return;
        }
        if (outcome.kind === 'done') {
          const diff = await diffAgainstBase(exec.worktree, exec.baseCommit, { secrets: await scanSecrets(), keepIndex: true });
          if (diff.files.length === 0) {
            await failTask(lease, 'execute', 'the executor finished without changing any file');
            return;
          }
          const diffFile = await ws.writeTaskFile(task.id, `exec${exec.number}-final.diff`, diff.patch, { onTaken: 'newName' });
          await lease.release((view) => (view.state !== 'executing' ? [] : [
            { type: 'exec.finished', data: { summary: outcome.value, diffStat: diff.stat, diffFile, files: diff.files, ...(diff.index ? { index: diff.index } : {}) } },
            { type: 'task.moved', data: { from: 'executing', to: 'publishing', reason: 'tests pass; ready to commit and push' } },
          ]), 'executed');
          log.info('execution finished', { task: task.id, files: diff.files.length });
          return;
        }

        async function runCall(call: ToolCall): Promise<{ outcome: { output: string; isError: boolean }; finished?: string }> {
          if (call.name === 'run_tests') {
            // Counted even when refused: one run past the limit ends the run at the next limit check.
            spent.testRuns++;
            if (spent.testRuns > limits.maxTestRuns) {
              return { outcome: { output: `refused: the test-run limit (${limits.maxTestRuns}) is reached`, isError: true } };
            }
            // Throws SANDBOX_UNAVAILABLE where no sandbox can be built: the catch below fails the task with that reason.
            const result = await runSandboxed({
              ...profileSandboxOptions(ws.config.sandbox, testsProfile), command: testCommand as string, cwd: exec!.worktree, signal: loopSignal, hidePaths: [ws.paths.root],
              ...worktreeEnv(ws, exec!.worktree),
            });
            const iso = result.isolation;
            const header = `$ ${testCommand}\n# exit ${result.exitCode ?? result.signal}${result.timedOut ? ' (killed at the timeout)' : ''}, ${result.durationMs} ms, isolation ${iso.mode === 'unconfined' ? 'UNCONFINED (sandbox.isolation is "unconfined")' : iso.mode}, network ${iso.network}, limits ${iso.limits}\n`;
            const output = await maskGranted(result.output);
            const file = await ws.writeTaskFile(task.id, `exec${exec!.number}-test-${spent.testRuns}.txt`, header + output, { onTaken: 'newName' });
            await lease.append([{ type: 'tests.ran', data: { run: spent.testRuns, passed: result.passed, exitCode: result.exitCode, timedOut: result.timedOut, aborted: result.aborted, durationMs: result.durationMs, file, isolation: iso.mode, ...profileRef(testsProfile) } }]);
            if (result.passed) greenAtEdit = tools.edits();
            const verdict = result.passed ? 'PASSED' : result.timedOut ? `FAILED: killed after ${testsProfile.limits.timeoutSeconds} s` : `FAILED (exit ${result.exitCode ?? result.signal})`;
            return { outcome: { output: `${verdict}\n${setupNote}\n${output}`, isError: !result.passed } };
          }
          if (call.name === 'finish') {
            if (greenAtEdit !== tools.edits()) return { outcome: { output: 'refused: the tests have not passed since your last edit; call run_tests first', isError: true } };
            return { outcome: { output: 'finished', isError: false }, finished: typeof call.args.summary === 'string' ? call.args.summary : '' };
          }
          if (CONTEXT_TOOL_NAMES.has(call.name)) return { outcome: await context.run(call) };
          if (!tools.specs.some((s) => s.name === call.name)) {
            return { outcome: { output: `refused: there is no tool "${call.name}". You cannot run git or shell commands; committing and pushing task/${task.id} is done by the git agent after you finish.`, isError: true } };
          }
          if (call.name === 'write_file' || call.name === 'replace_in_file') {
            const rel = safeRelative(call.args.path);
            const refusal = rel !== undefined && rel !== '' ? writeRefusal(profile, rel) : undefined;
            if (refusal) return { outcome: { output: `refused: ${refusal}`, isError: true } };
          }
          return { outcome: await tools.run(call) };
        }

        // Stopped at a safe point: by the person (abort) or by this process shutting down.
        if (await userAborted()) {
          const patchFile = await saveWork('aborted');
          await lease.release([{ type: 'exec.stopped', data: { reason: 'aborted', ...(patchFile ? { patchFile } : {}) } }], 'aborted');
        }
      } catch (err) {
        if (loopSignal.aborted && (await userAborted())) {
          const patchFile = await saveWork('aborted').catch(() => undefined);
          await lease.release([{ type: 'exec.stopped', data: { reason: 'aborted', ...(patchFile ? { patchFile } : {}) } }], 'aborted').catch(() => undefined);
          return;
        }
        if (loopSignal.aborted) return; // shutting down or moved away: the lease is released and the run resumes later
        const { code, message } = describeError(err);
        if (code === 'LEASE_LOST') return;
        if (retryLater(err, task.attempts)) {
          log.warn('executor model call failed, will resume', { task: task.id, message });
          return; // lease released by the runner; the next scan resumes the execution
        }
        const patchFile = await saveWork('patch').catch(() => undefined);
        await failTask(lease, 'execute', message, patchFile ? { patchFile } : {}).catch(() => undefined);
      }
    },
  });
}
