// The promptc extension: a thin client. Everything the editor shows (diagnostics, hovers, inlay
// hints, quick fixes, formatting) comes from `promptc lsp`, started from the user's environment.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverCommand() {
  const configured = vscode.workspace.getConfiguration("promptc").get("server.command") || ["promptc", "lsp"];
  const [command, ...args] = configured;
  return { command, args, transport: TransportKind.stdio };
}

async function activate(context) {
  const run = serverCommand();
  client = new LanguageClient(
    "promptc",
    "promptc",
    { run, debug: run },
    {
      documentSelector: [{ scheme: "file", language: "promptc" }],
      middleware: {
        // "Explain CODE" quick fixes run the server's promptc.explain: show the text it returns.
        executeCommand: async (command, args, next) => {
          const result = await next(command, args);
          if (command === "promptc.explain" && typeof result === "string") {
            const doc = await vscode.workspace.openTextDocument({ content: result, language: "markdown" });
            await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
          }
          return result;
        },
      },
    },
  );
  // The server's own commands (promptc.explain, promptc.renderPreview) are registered by the language
  // client from the server's capabilities; this one asks for a plan and shows the server's answer.
  context.subscriptions.push(
    vscode.commands.registerCommand("promptc.preview", async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor) return;
      const plan = await vscode.window.showInputBox({ prompt: "Plan to preview (empty: the first plan of this file)" });
      const result = await client.sendRequest("workspace/executeCommand", {
        command: "promptc.renderPreview",
        arguments: [editor.document.uri.toString(), plan || null, {}],
      });
      const doc = await vscode.workspace.openTextDocument({ content: JSON.stringify(result, null, 2), language: "json" });
      await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
    }),
  );
  await client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
