// The production build of Hatchet's dashboard for Parley's local stack:
// Hatchet's own vite.config.ts (aliases, the base-path template that
// hatchet-lite's static file server fills in), minus the Sentry plugins
// (they upload source maps and send telemetry to sentry.io) and minus
// source maps (nobody debugs the bundle here; they double the build's
// output) and minus the gzip size report (seconds of CPU for a table).
// scripts/dashboard.sh copies it next to vite.config.ts.
import base from './vite.config';

type Named = { name?: string } | null | false | undefined;

export default {
  ...base,
  plugins: ((base.plugins ?? []).flat(Infinity as 1) as Named[]).filter(
    (p) => !(p && p.name?.startsWith('sentry')),
  ),
  build: { ...base.build, sourcemap: false, reportCompressedSize: false },
};
