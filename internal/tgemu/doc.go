// Package tgemu is an offline Telegram: a local server that speaks real
// MTProto to real, unmodified gotd clients (built on gotd's tgtest), with
// Telegram's semantics and RPC errors for the methods bots use, and a
// control API (JSON over HTTP, or the Go methods of Server) that plays the
// users: it creates them, makes them write to the bot, press inline buttons,
// block the bot, and shows what the bot sent.
//
// Model: every account (user or bot) has its own message box and its own
// pts sequence, as on Telegram. A message between a user and a bot is
// stored once in each box; the bot's sends and the users' messages advance
// pts, and whatever a client missed (offline, dropped push) comes back from
// updates.getDifference. Updates are pushed to every session of the account
// that made an authorized call without invokeWithoutUpdates.
//
// Limitations:
//   - One DC (ID 2). No channels or supergroups: groups are basic chats.
//   - Callback queries ride on the pts sequence with an empty
//     updateReadMessagesContents, so a client that misses the push gets them
//     from getDifference; a client with a gap may see one twice (dedupe by
//     query ID, as with Telegram).
//   - Each account keeps its last 200,000 messages and updates.
package tgemu
