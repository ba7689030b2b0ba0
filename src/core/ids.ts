import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

/** Monotonic within this process, so ids created in one burst sort in creation order. */
export function newId(): string {
  return nextUlid();
}

/** A ULID (Crockford base32, 26 characters): every task id. The pattern without anchors, for composing. */
export const ULID_PATTERN = '[0-9A-HJKMNP-TV-Z]{26}';
const ULID = new RegExp(`^${ULID_PATTERN}$`);
export function isUlid(value: string): boolean {
  return ULID.test(value);
}

/** Workstream names, trigger ids, agent names: safe as a path segment and in a shell. */
const SLUG = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export function isSlug(value: string): boolean {
  return SLUG.test(value);
}
