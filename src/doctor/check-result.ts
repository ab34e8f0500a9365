// One line of `dockgate doctor`: a check's name, its verdict and why. Shared by every check file.
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  status: CheckStatus;
  name: string;
  detail: string;
}

export const ok = (name: string, detail: string): CheckResult => ({ status: 'ok', name, detail });
export const warn = (name: string, detail: string): CheckResult => ({ status: 'warn', name, detail });
export const fail = (name: string, detail: string): CheckResult => ({ status: 'fail', name, detail });

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
