#!/usr/bin/env node
import { launch } from '@gavel/shared/launch';

await launch(import.meta.url, '../dist/main.js', '../src/main.ts');
