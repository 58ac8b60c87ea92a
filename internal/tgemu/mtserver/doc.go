// Package mtserver is the MTProto server side of the emulator: a copy of
// gotd's tgtest server core (github.com/gotd/td v0.162.0, MIT License,
// Copyright (c) 2020 Aleksandr Razumov) with three changes the emulator
// needs and tgtest does not offer:
//
//   - Server.AddAuthKey and ServerOptions.OnAuthKey, so auth keys can be
//     persisted and restored: clients stay logged in across a restart.
//   - The auth key map is read under the mutex that guards it (tgtest reads
//     it under another one: a data race with concurrent key exchanges).
//   - A closed connection's sessions are forgotten (tgtest keeps them), and
//     a session resumed on a new connection is answered there.
//   - TCP only: the websocket close-status check is gone.
//
// Everything else (key exchange, encryption, containers, gzip, pings) is
// tgtest's code unchanged; the API is tgtest's.
package mtserver
