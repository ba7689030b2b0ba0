import { join } from 'node:path';
import type { Actor } from '../actor.js';
import { putBlob, readBlob } from '../blob-store.js';
import { OrchestraError } from '../errors.js';
import { ARTIFACTS_STREAM } from '../paths.js';
import type { StreamState } from '../stream-store.js';
import type { Workspace } from '../workspace.js';

/**
 * Artifacts are work products stored by path. Content goes to a content-addressed blob (so a
 * blob is never rewritten; see blob-store.ts for the size cap and link rules) and each put is an
 * event; the latest put of a path wins.
 */
export interface ArtifactRef { path: string; sha256: string; size: number; task?: string; at: string; by: string }

const ARTIFACT_PATH = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,300}$/;

function latestByPath(state: StreamState): Map<string, ArtifactRef> {
  const map = new Map<string, ArtifactRef>();
  for (const record of state.records) {
    for (const event of record.events) {
      if (event.type !== 'artifact.put') continue;
      const d = event.data as Record<string, any>;
      map.set(String(d.path), { path: String(d.path), sha256: String(d.sha256), size: Number(d.size), task: d.task, at: record.at, by: record.actor.name });
    }
  }
  return map;
}

/** Stores `content` (bytes, or a stream such as stdin: read once, never more than the cap). */
export async function putArtifact(ws: Workspace, path: string, content: Buffer | AsyncIterable<Uint8Array>, actor: Actor, task?: string): Promise<ArtifactRef> {
  if (!ARTIFACT_PATH.test(path)) throw new OrchestraError('INVALID_INPUT', `artifact path "${path.slice(0, 200)}" must be relative, without "..", using letters, digits, . _ - /`);
  if (task) await ws.task(task);
  const source = Buffer.isBuffer(content) ? [content] : content;
  const { sha256, size } = await putBlob(ws.paths.artifactBlobs, source, { maxBytes: ws.config.storage.maxArtifactBytes, fsync: ws.config.fsync });
  ws.journal.markFile(join(ws.paths.artifactBlobs, sha256));
  await ws.appendTo(ARTIFACTS_STREAM, (s) => s, () => ({ actor, events: [{ type: 'artifact.put', data: { path, sha256, size, ...(task ? { task } : {}) } }] }));
  return { path, sha256, size, task, at: new Date().toISOString(), by: actor.name };
}

export async function getArtifact(ws: Workspace, path: string): Promise<{ ref: ArtifactRef; content: Buffer }> {
  const ref = latestByPath(await ws.readStream(ARTIFACTS_STREAM)).get(path);
  if (!ref) throw new OrchestraError('NOT_FOUND', `no artifact at ${path}`);
  return { ref, content: await readBlob(ws.paths.artifactBlobs, ref.sha256, ws.config.storage.maxArtifactBytes) };
}

export async function listArtifacts(ws: Workspace, prefix = ''): Promise<ArtifactRef[]> {
  return [...latestByPath(await ws.readStream(ARTIFACTS_STREAM)).values()].filter((a) => a.path.startsWith(prefix)).sort((a, b) => a.path.localeCompare(b.path));
}
