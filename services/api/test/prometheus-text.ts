/** One metric family of a Prometheus text exposition: its type and the label sets of its samples. */
export interface MetricFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

/** Parses the text exposition format (what /metrics answers) into families by name. */
export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const f = family(meta[2]!);
      if (meta[1] === 'TYPE') families.set(f.name, { ...f, type: meta[3]! });
      else families.set(f.name, { ...f, help: meta[3]! });
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const [, name, labelText = '', value] = sample;
    const labels: Record<string, string> = {};
    for (const m of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[m[1]!] = m[2]!;
    // A histogram's _bucket/_sum/_count samples belong to the family declared without them.
    const base = [name!, name!.replace(/_(bucket|sum|count)$/, '')].find((n) => families.has(n)) ?? name!;
    family(base).samples.push({ name: name!, labels, value: Number(value) });
  }
  return families;
}
