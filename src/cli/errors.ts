// The error that carries a command's exit code. Its own module, free of imports, so that
// main.ts can catch it without loading what the commands need (Docker's client, the dataplane)
// before it knows which command runs.
export const EXIT_CONFIG = 2;

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}
