// What to say about a caught value. `catch (err)` gives `unknown`: usually an Error, but a
// library may throw a string or an object, and `(err as Error).message` is then `undefined`.

/** The message of an Error, or the thrown value as text. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
