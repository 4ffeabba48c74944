// Starts `sam3c lsp` for .sam3x files.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("sam3x").get("server.path") || "sam3c";
  client = new LanguageClient(
    "sam3x",
    "sam3x",
    { command, args: ["lsp"] },
    { documentSelector: [{ scheme: "file", language: "sam3x" }] }
  );
  context.subscriptions.push(client);
  client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
