//! The server end to end over an in-memory connection: initialize, open a document, receive its diagnostics,
//! hover, format, shut down.

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use lsp_types::notification::{DidOpenTextDocument, Exit, Initialized, Notification as _};
use lsp_types::request::{Formatting, HoverRequest, Initialize, Request as _, Shutdown};
use sam3c_compiler::MemoryDb;
use serde_json::json;

fn request(
    client: &Connection,
    id: i32,
    method: &str,
    params: serde_json::Value,
) -> serde_json::Value {
    client
        .sender
        .send(Message::Request(Request::new(
            RequestId::from(id),
            method.into(),
            params,
        )))
        .unwrap();
    loop {
        match client.receiver.recv().unwrap() {
            Message::Response(r) if r.id == RequestId::from(id) => {
                return r.response_result.unwrap_or(serde_json::Value::Null)
            }
            _ => {}
        }
    }
}

#[test]
fn a_session_gets_diagnostics_hover_and_formatting() {
    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || sam3c_lsp::run(&server, &MemoryDb::default()));
    let init = request(
        &client,
        1,
        Initialize::METHOD,
        json!({ "capabilities": {} }),
    );
    assert_eq!(init["capabilities"]["hoverProvider"], json!(true));
    client
        .sender
        .send(Message::Notification(Notification::new(
            Initialized::METHOD.into(),
            json!({}),
        )))
        .unwrap();

    let text = "pipeline p = [decode_masks, resize(1000px, square=true), normalize()]\n";
    let uri = "file:///work/spec.sam3x";
    client
        .sender
        .send(Message::Notification(Notification::new(
            DidOpenTextDocument::METHOD.into(),
            json!({ "textDocument": { "uri": uri, "languageId": "sam3x", "version": 1, "text": text } }),
        )))
        .unwrap();
    // The pipeline alone checks clean: no stage uses it; a typo'd component does not.
    let diags = loop {
        if let Message::Notification(n) = client.receiver.recv().unwrap() {
            if n.method == "textDocument/publishDiagnostics" {
                break n.params;
            }
        }
    };
    assert_eq!(diags["uri"], uri);
    assert_eq!(diags["diagnostics"], json!([]));

    let hover = request(
        &client,
        2,
        HoverRequest::METHOD,
        json!({ "textDocument": { "uri": uri }, "position": { "line": 0, "character": 30 } }),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("resize"),
        "{hover}"
    );

    let edits = request(
        &client,
        3,
        Formatting::METHOD,
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    assert_eq!(
        edits[0]["newText"],
        "pipeline p = [decode_masks, resize(1000px, square = true), normalize()]\n"
    );

    request(&client, 4, Shutdown::METHOD, json!(null));
    client
        .sender
        .send(Message::Notification(Notification::new(
            Exit::METHOD.into(),
            json!(null),
        )))
        .unwrap();
    thread.join().unwrap().unwrap();
}

#[test]
fn diagnostics_point_at_the_spot_with_code_and_help() {
    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || sam3c_lsp::run(&server, &MemoryDb::default()));
    request(
        &client,
        1,
        Initialize::METHOD,
        json!({ "capabilities": {} }),
    );
    client
        .sender
        .send(Message::Notification(Notification::new(
            Initialized::METHOD.into(),
            json!({}),
        )))
        .unwrap();
    let text = "// é\npipeline p = [decode_masks, resize(1008, square = true), normalize()]\n";
    client
        .sender
        .send(Message::Notification(Notification::new(
            DidOpenTextDocument::METHOD.into(),
            json!({ "textDocument": { "uri": "file:///w/a.sam3x", "languageId": "sam3x", "version": 1, "text": text } }),
        )))
        .unwrap();
    let diags = loop {
        if let Message::Notification(n) = client.receiver.recv().unwrap() {
            if n.method == "textDocument/publishDiagnostics" {
                break n.params;
            }
        }
    };
    let d = &diags["diagnostics"][0];
    assert_eq!(d["code"], "E0201");
    assert_eq!(
        d["range"],
        json!({ "start": { "line": 1, "character": 35 }, "end": { "line": 1, "character": 39 } })
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("help: write the unit"),
        "{d}"
    );
    request(&client, 2, Shutdown::METHOD, json!(null));
    client
        .sender
        .send(Message::Notification(Notification::new(
            Exit::METHOD.into(),
            json!(null),
        )))
        .unwrap();
    thread.join().unwrap().unwrap();
}
