/**
 * The commands that turn a checkout into a runnable dist/ + production node_modules, in order.
 * The Dockerfile's build stage runs exactly these (test/docker/compose.test.ts checks it), and the
 * build test runs them in a copy of the repository, so the image build is exercised without Docker.
 */
export const BUILD_STEPS = ['npm ci', 'npm run build', 'npm prune --omit=dev'];
