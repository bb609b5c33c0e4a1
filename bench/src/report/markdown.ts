import type { ExperimentResult, Headline, Table } from '../experiment.js';
import type { Machine } from '../machine.js';

export interface RunInfo {
  readonly started: string;
  readonly seconds: number;
  readonly command: string;
  readonly quick: boolean;
  readonly target: string | undefined;
}

const cell = (v: string | number) =>
  typeof v === 'number' ? (Number.isFinite(v) ? String(+v.toFixed(3)) : 'n/a') : v.replace(/\|/g, '\\|');

export function table(t: Pick<Table, 'columns' | 'rows'>): string {
  return [
    `| ${t.columns.join(' | ')} |`,
    `|${t.columns.map(() => '---').join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

function headlineRow(e: ExperimentResult, h: Headline): Array<string | number> {
  const ratio = Number.isFinite(h.ratio) ? `${h.ratio.toFixed(2)}×` : 'n/a';
  const verdict = h.met === undefined ? '' : h.met ? 'met' : '**missed**';
  return [
    e.title,
    h.what,
    `${cell(h.value)} ${h.unit}`,
    `${h.baseline}: ${cell(h.baselineValue)} ${h.unit}`,
    ratio,
    h.target ?? '',
    verdict,
  ];
}

/** The harness's report: the machine, every experiment's headline figures, then each in turn. */
export function renderMarkdown(
  info: RunInfo,
  machine: Machine,
  results: readonly ExperimentResult[],
): string {
  const m = machine;
  const headlines = results.flatMap((e) => e.headlines.map((h) => headlineRow(e, h)));
  const sections = results.map((e) => {
    const head = `## ${e.title}\n\n`;
    if (e.status !== 'ok')
      return `${head}${e.status === 'skipped' ? 'Skipped' : '**Failed**'}: ${e.reason ?? ''}\n`;
    const parts = [
      `${head}${Number.isFinite(e.seconds) ? `${e.seconds.toFixed(0)} s.` : ''}${e.reason ? ` ${e.reason}.` : ''}${e.details ? ` Details: [${e.details}](${e.details}).` : ''}`,
      ...e.tables.map((t) => `### ${t.title}\n\n${table(t)}`),
      ...e.plots.map((p) => `![${p.title}](${p.file})`),
    ];
    return parts.join('\n\n');
  });
  return `# Gavel benchmarks

${info.quick ? '**A smoke run (`--quick`): sizes cut to fit a minute; read the shape, not the figures.**\n\n' : ''}Measured ${info.started} by \`${info.command}\` in ${info.seconds.toFixed(0)} s${info.target ? `, against the deployed stack at ${info.target}` : ' on this machine'}.
Raw figures: [bench.json](bench.json).

Every experiment puts its load in a process of its own and measures the server's CPU per operation
(utime+stime of the server processes from /proc) beside a baseline measured in the same run, in
interleaved rounds; the ratio is the figure to compare across machines. Latency percentiles come from
HdrHistogram (hdr-histogram-js).

## Machine

${m.cores} vCPU ${m.cpu}, ${m.memoryGiB} GiB, Linux ${m.kernel}; Node ${m.node}, Redis ${m.redis}, PostgreSQL ${m.postgres},
${m.nats}. Load average (1/5/15 min) before: ${m.loadAverageBefore.join(' ')}; after: ${m.loadAverageAfter.join(' ')}.
Busiest processes at the start (%CPU, command): ${m.busiestAtStart.join('; ') || 'n/a'}.
What else ran: ${m.note}.

## Headline figures

${table({ columns: ['experiment', 'what', 'figure', 'baseline, same run', 'ratio', 'target', ''], rows: headlines })}

${sections.join('\n\n')}
`;
}
