// The swarm's public surface: what the daemon wires and distribute consumes. Internals
// (announce streams, dialer, wire messages) stay behind it.
export { createSwarm, Swarm, DEFAULT_HEARTBEAT_MS, DEFAULT_PEER_EXPIRY_MS, DEFAULT_VIOLATION_BAN_MS } from './swarm.ts';
export type { SwarmInit, SwarmComponents } from './swarm.ts';
export type { SwarmLogger } from './logger.ts';
export { MemoryNetwork, MemorySwarm } from './memory-swarm.ts';
export type { MemorySwarmInit } from './memory-swarm.ts';
export type { BlobKey, Holder, Inventory, InventoryEntry, PeerSummary, Penalty, PieceSet, SwarmApi, SwarmEvents, SwarmView, TagRecord, UnjoinablePeer } from './types.ts';
export { blobKey } from './types.ts';
export { hasDonePiece, hasPiece, heldPieces, pieceCount, piecesFromIndexes, MAX_PIECES } from './pieces.ts';
export { digestToCid, digestToKey, cidToDigest, tryCidToDigest } from './keys.ts';
export { loadOrCreatePeerKey, peerKeyPath } from './identity.ts';
export { generateClusterKey, parseClusterKey, loadClusterKey, peerTlsKey, peerTlsServerOptions, peerTlsClientOptions } from './cluster-key.ts';
export type { ClusterKey } from './cluster-key.ts';
export { SHOAL_MDNS_SERVICE_TAG, DEFAULT_MDNS_INTERVAL_MS } from './node.ts';
export type { MdnsInit } from './node.ts';
export { ANNOUNCE_PROTOCOL, MAX_MESSAGE_BYTES } from './protocol.ts';
export { PreheatProtocol, PreheatProtocolError, PREHEAT_PROTOCOL, MAX_PREHEAT_IMAGES, DEFAULT_PREHEAT_JOBS, MAX_PREHEAT_JOBS, DEFAULT_PREHEAT_SILENCE_MS, formatPreheatImage, parsePreheatRequest } from './preheat-protocol.ts';
export type { ImageProgress, ImageState, PreheatImage, PreheatPlatform, PreheatRequest, PreheatRunner } from './preheat-protocol.ts';
