import { stringifyJson } from '../lib/json';

/** What a sandbox API answers; the server writes it out (after `delayMs`, when set). */
export interface SandboxAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  delayMs?: number;
}

export function jsonAnswer(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): SandboxAnswer {
  // Numbers a double does not keep (ExactNumber) go out with every digit, as Tencent sends them.
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: stringifyJson(body) };
}
