import type { Config } from '../core/config.js';
import type { Profile } from '../core/security-profiles.js';
import { sandboxOptions, type SandboxRequest } from './sandbox.js';

/**
 * The sandbox options of a command run under a security profile: config `sandbox` (isolation,
 * read paths, passed variables, output cap) with the profile's network, time limit and prlimit
 * limits in place of the config's. The profile's limits were resolved from config `sandbox`, so
 * without a profile override both agree.
 */
export function profileSandboxOptions(sandbox: Config['sandbox'], profile: Profile): ReturnType<typeof sandboxOptions> & Pick<SandboxRequest, 'timeoutMs' | 'network' | 'limits'> {
  const { timeoutSeconds, ...limits } = profile.limits;
  return { ...sandboxOptions(sandbox), timeoutMs: timeoutSeconds * 1000, network: profile.network, limits };
}
