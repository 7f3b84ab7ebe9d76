// `rotator reject SECRET --reason TEXT [--by NAME]`: end a rotation waiting at its approval gate, nothing changed.
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { decisionCommand } from './approve';

export function rejectCommand(ctx: CliContext): Command {
  return decisionCommand(ctx, 'reject');
}
