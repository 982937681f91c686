#!/usr/bin/env node
// A committed entry point, so npm links the `blankspot` command at install time, before dist/ is built.
import '../dist/cli.js';
