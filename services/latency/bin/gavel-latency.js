#!/usr/bin/env node
import { launch } from '@gavel/shared/launch';

await launch(import.meta.url, '../dist/cli.js', '../src/cli.ts');
