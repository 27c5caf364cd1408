/**
 * Headless Debian Chromium driven by playwright-core, with a fresh profile
 * that is deleted on close. Used by the inspector's browser test and the
 * screenshot script; nothing is downloaded.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags for a quiet, offline, sandbox-less headless run (as root in CI). */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
];

/** Whether the Debian Chromium is installed. */
export function hasChromium(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/** A browser context and the way to end it. */
export interface Browser {
  context: BrowserContext;
  /** Close the browser and delete its profile directory. */
  close(): Promise<void>;
}

/**
 * Launch headless Chromium with a new profile directory.
 *
 * @param {{ width: number; height: number }} [viewport] Page size. Default 1200x900
 * @returns {Promise<Browser>} The context and its close function
 */
export async function launchChromium(viewport = { width: 1200, height: 900 }): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'ws-lifecycle-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      viewport
    });
    return {
      context,
      close: async () => {
        await context.close();
        await rm(profile, { recursive: true, force: true });
      }
    };
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}
