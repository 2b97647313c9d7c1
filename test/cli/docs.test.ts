// docs/cli.md against the CLI itself: one section per command that `--help` lists, and in each section
// exactly the flags that command's `--help` lists, so the reference cannot drift from the code.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { repoRoot } from '../helpers/mnist.ts';

const test = suite('docs/cli.md agrees with --help');

const DOC = 'docs/cli.md';

/** The command names of the top-level help's "Commands:" block (`  train      train a model ...`). */
function commandsOfHelp(help: string): string[] {
  const lines = help.split('\n');
  const start = lines.findIndex((line) => /^Commands:\s*$/.test(line));
  if (start < 0) throw new Error(`the top-level --help has no "Commands:" block:\n${help}`);
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const match = /^ {2}([a-z][a-z0-9-]*)(\s|$)/.exec(line);
    if (!match) break;
    names.push(match[1]);
  }
  return names;
}

/**
 * The flags a command's --help lists: an option line is indented by exactly two spaces and starts with
 * the flag (`  --lr X   ...`, `  -h, --help   ...`); its continuation lines are indented further, so a
 * flag named in a description (`--log-every steps ...`) is not taken for an option.
 */
function flagsOfHelp(help: string): string[] {
  const flags = new Set<string>();
  for (const line of help.split('\n')) {
    const match = /^ {2}(?:-[A-Za-z], )?(--[a-z][a-z0-9-]*)/.exec(line);
    if (match) flags.add(match[1]);
  }
  return [...flags];
}

/**
 * docs/cli.md's command sections (`## \`train\``) and the flags each one lists: the long flags in the
 * first code span of a list item (`- \`--lr X\`: ...`, `- \`-h, --help\`: ...`). Flags named in prose
 * are not options of that section.
 */
function sectionsOfDoc(markdown: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of markdown.split('\n')) {
    // A Markdown heading may be indented by up to three spaces.
    if (/^ {0,3}#{1,2} /.test(line)) {
      const command = /^ {0,3}## `([a-z][a-z0-9-]*)`\s*$/.exec(line);
      current = command ? [] : undefined;
      if (command) {
        if (sections.has(command[1])) throw new Error(`${DOC} has two sections for \`${command[1]}\``);
        sections.set(command[1], current!);
      }
      continue;
    }
    const item = /^\s*[-*] `([^`]+)`/.exec(line);
    if (current && item) {
      for (const flag of item[1].match(/--[a-z][a-z0-9-]*/g) ?? []) current.push(flag);
    }
  }
  return sections;
}

test('the parsers read what they are meant to', () => {
  const help = [
    'Usage: x [options]',
    '',
    'Mentions --not-an-option in prose.',
    '',
    'Options:',
    '  --lr X               rate',
    '  --checkpoint-every N also every N steps',
    '  --log FILE           metrics, a record every',
    '                       --log-every steps',
    '  -h, --help           show this help',
  ].join('\n');
  assert.equal(flagsOfHelp(help), ['--lr', '--checkpoint-every', '--log', '--help']);
  assert.equal(commandsOfHelp('Commands:\n  train      trains\n  eval       evaluates\n\nRun it.'), ['train', 'eval']);
  const doc = sectionsOfDoc(
    '# T\n\n## Common\n\n- `--adapter N`: x\n\n## `train`\n\nSee `--resume`.\n\n- `--lr X`: y, like --gamma\n' +
      '- `-h, --help`: z\n\n ## `eval`\n',
  );
  assert.equal([...doc.entries()], [['train', ['--lr', '--help']], ['eval', []]]);
});

test(`${DOC}: a section per command, with exactly the flags of its --help`, async () => {
  const top = await runCli(['--help']);
  assert.is(top.code, 0, `--help exited ${top.code}: ${top.stderr}`);
  const commands = commandsOfHelp(top.stdout);
  assert.ok(commands.length >= 10, `the top-level --help lists its commands: ${commands.join(', ')}`);
  const sections = sectionsOfDoc(readFileSync(join(repoRoot(), DOC), 'utf8'));

  const problems: string[] = [];
  for (const name of sections.keys()) {
    if (!commands.includes(name)) {
      problems.push(`${DOC} has a section "## \`${name}\`", but --help lists no command ${name}`);
    }
  }
  for (const command of commands) {
    const documented = sections.get(command);
    if (!documented) {
      problems.push(`${DOC} has no section "## \`${command}\`" for the command ${command}`);
      continue;
    }
    const help = await runCli([command, '--help']);
    assert.is(help.code, 0, `${command} --help exited ${help.code}: ${help.stderr}`);
    const listed = flagsOfHelp(help.stdout);
    assert.ok(listed.length > 0, `${command} --help lists no flags:\n${help.stdout}`);
    for (const flag of listed) {
      if (!documented.includes(flag)) {
        problems.push(`${DOC}, section \`${command}\`: ${flag} is missing (\`${command} --help\` lists it)`);
      }
    }
    for (const flag of documented) {
      if (!listed.includes(flag)) {
        problems.push(`${DOC}, section \`${command}\`: ${flag} is not a flag \`${command} --help\` lists`);
      }
    }
  }
  assert.ok(problems.length === 0, `\n${problems.join('\n')}`);
});

test.run();
