// Leak checks for the end-to-end tests live in the shared test utilities.
export { isolateTmp, processesMentioning } from '@smolvm/test-utils';
