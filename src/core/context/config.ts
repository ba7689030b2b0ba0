/**
 * The `context` section of orchestra.json: limits of the context store and its key rotation.
 * Its one source of truth is this schema; core/config.ts only mounts it.
 */
import { z } from 'zod';

export const ContextConfigSchema = z
  .object({
    /**
     * A new key version is made, and every current secret re-encrypted under it, when the current
     * key is older than this many days: checked when `up` starts and by every CLI write of the
     * context store. 0 turns automatic rotation off (`orchestra key rotate` still works).
     */
    rotateAfterDays: z.number().min(0).default(90),
    /** Largest content of one entry in bytes (UTF-8); larger writes are refused. */
    maxContentBytes: z.number().int().min(64).max(512 * 1024).default(64 * 1024),
    /** How many context refs (id + one-line summary) a step's opening message carries at most. */
    maxRefsInPrompt: z.number().int().min(0).max(200).default(30),
  })
  .prefault({});
export type ContextConfig = z.infer<typeof ContextConfigSchema>;
