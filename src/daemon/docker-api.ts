// What the daemon's parts need of Docker, in a file of its own so that the fact store and the
// daemon both depend on it rather than on each other.
import type { DockerSource } from '../docker/source.js';

/** What the daemon needs of Docker (docker/source.ts; tests pass a fake). */
export type DockerApi = Pick<DockerSource, 'host' | 'apiTimeoutMs' | 'listAllNetworks' | 'listIds' | 'inspect' | 'subscribe' | 'swarmState'>;
