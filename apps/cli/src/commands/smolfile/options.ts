// The Smolfile options shared by `machine run` and `machine create`. Imports only commander, so program.ts can
// load it eagerly and the handlers stay lazy.
import type { Command } from 'commander';

export function addSmolfileOptions(command: Command): Command {
  return command
    .option('-s, --smolfile <path>', 'take the machine\'s settings from this Smolfile (default: ./Smolfile when there is one)')
    .option('--no-smolfile', 'ignore ./Smolfile')
    .option('--dev', 'also apply the Smolfile\'s [dev] table (local-only settings)');
}
