/**
 * Loading an optional peer dependency: the tools and adapters that need a
 * package the runtime does not (`@viz-js/viz`, a framework) load it when
 * used, and say which package to install when it is missing.
 */

/**
 * @param {string} name The package
 * @param {string} feature What needs it, for the message: `SVG charts`, `ws-lifecycle/fastify`
 * @returns {Promise<T>} The module
 * @throws {Error} Naming the package and the install command, when it is not installed
 */
export async function loadPeer<T>(name: string, feature: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(`${feature} needs the optional peer dependency ${name}: npm install ${name}`, { cause: error });
    }
    throw error;
  }
}
