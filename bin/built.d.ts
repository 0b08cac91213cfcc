// Types of built.js (plain JavaScript: bin/shoal.js loads it before any TypeScript).
export declare const BUILD_DIR: string;
export declare const BUILD_STAMP: string;
export declare function sourceFingerprint(root: string): string;
export declare function entryModule(root: string): string;
