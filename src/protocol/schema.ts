/**
 * The frames of docs/protocol.md as a JSON Schema (draft 2020-12): the one
 * source of their shapes. The server's parser and the conformance checker
 * read it through src/protocol/schema-check.ts; docs/protocol.schema.json is
 * written from it (`npm run protocol-schema`), and a test fails when the two
 * differ.
 */
import type { SchemaObject } from './schema-check.js';

export const PROTOCOL_SCHEMA: SchemaObject = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://ws-lifecycle.dev/protocol/v1/schema.json',
  title: 'ws-lifecycle.v1 session protocol frames',
  description: 'Every frame of docs/protocol.md. Unknown members are allowed (section 2.3). clientFrame: what a client sends; serverFrame: what a server sends.',
  $defs: {
    name: {
      description: 'Unicode scalar values: a name holding an unpaired surrogate (JSON can escape one, \\ud800) is refused. The pattern says so with or without a regex engine\'s Unicode mode.',
      type: 'string',
      minLength: 1,
      maxLength: 200,
      pattern: '^(?:[^\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF])*$'
    },
    topic: {
      $ref: '#/$defs/name'
    },
    epoch: {
      $ref: '#/$defs/name'
    },
    offset: {
      type: 'integer',
      minimum: 0,
      maximum: 9007199254740991
    },
    id: {
      type: 'integer',
      minimum: 1,
      maximum: 9007199254740991
    },
    clientId: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9_-]+$'
    },
    cursor: {
      type: 'object',
      required: [
        'epoch',
        'offset'
      ],
      properties: {
        epoch: {
          $ref: '#/$defs/epoch'
        },
        offset: {
          $ref: '#/$defs/offset'
        }
      }
    },
    hello: {
      type: 'object',
      required: [
        'type'
      ],
      properties: {
        type: {
          const: 'hello'
        },
        client: {
          oneOf: [
            {
              $ref: '#/$defs/clientId'
            },
            {
              type: 'null'
            }
          ]
        },
        session: {
          oneOf: [
            {
              $ref: '#/$defs/name'
            },
            {
              type: 'null'
            }
          ]
        },
        topics: {
          oneOf: [
            {
              type: 'object',
              propertyNames: {
                $ref: '#/$defs/topic'
              },
              additionalProperties: {
                $ref: '#/$defs/cursor'
              }
            },
            {
              type: 'null'
            }
          ]
        }
      }
    },
    send: {
      type: 'object',
      required: [
        'type',
        'id'
      ],
      properties: {
        type: {
          const: 'send'
        },
        id: {
          $ref: '#/$defs/id'
        }
      }
    },
    ping: {
      type: 'object',
      required: [
        'type'
      ],
      properties: {
        type: {
          const: 'ping'
        }
      }
    },
    welcome: {
      type: 'object',
      required: [
        'type',
        'session',
        'resumed',
        'ttlMs',
        'heartbeatMs',
        'version',
        'topics',
        'limits'
      ],
      properties: {
        type: {
          const: 'welcome'
        },
        session: {
          $ref: '#/$defs/name'
        },
        resumed: {
          type: 'boolean'
        },
        ttlMs: {
          type: 'integer',
          minimum: 1
        },
        heartbeatMs: {
          type: 'integer',
          minimum: 0
        },
        version: {
          const: 1
        },
        topics: {
          type: 'array',
          items: {
            $ref: '#/$defs/topic'
          },
          uniqueItems: true
        },
        limits: {
          type: 'object',
          required: [
            'maxFrameBytes',
            'maxNameLength',
            'maxInFlight',
            'maxFramesPerSecond'
          ],
          properties: {
            maxFrameBytes: {
              type: 'integer',
              minimum: 1
            },
            maxNameLength: {
              type: 'integer',
              minimum: 1
            },
            maxInFlight: {
              type: 'integer',
              minimum: 1
            },
            maxFramesPerSecond: {
              type: 'integer',
              minimum: 0
            }
          }
        }
      }
    },
    recovery: {
      type: 'object',
      required: [
        'type',
        'topic',
        'recovered',
        'epoch',
        'offset'
      ],
      properties: {
        type: {
          const: 'recovery'
        },
        topic: {
          $ref: '#/$defs/topic'
        },
        recovered: {
          type: 'boolean'
        },
        epoch: {
          $ref: '#/$defs/epoch'
        },
        offset: {
          $ref: '#/$defs/offset'
        },
        reason: {
          type: 'string',
          minLength: 1
        }
      },
      if: {
        properties: {
          recovered: {
            const: false
          }
        }
      },
      then: {
        required: [
          'reason'
        ]
      },
      else: {
        not: {
          required: [
            'reason'
          ]
        }
      }
    },
    message: {
      type: 'object',
      required: [
        'type',
        'topic',
        'epoch',
        'offset'
      ],
      properties: {
        type: {
          const: 'message'
        },
        topic: {
          $ref: '#/$defs/topic'
        },
        epoch: {
          $ref: '#/$defs/epoch'
        },
        offset: {
          type: 'integer',
          minimum: 1,
          maximum: 9007199254740991
        },
        b64: {
          type: 'string',
          pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$'
        }
      },
      oneOf: [
        {
          required: [
            'data'
          ],
          not: {
            required: [
              'b64'
            ]
          }
        },
        {
          required: [
            'b64'
          ],
          not: {
            required: [
              'data'
            ]
          }
        }
      ]
    },
    replayed: {
      type: 'object',
      required: [
        'type',
        'topic',
        'offset'
      ],
      properties: {
        type: {
          const: 'replayed'
        },
        topic: {
          $ref: '#/$defs/topic'
        },
        offset: {
          $ref: '#/$defs/offset'
        }
      }
    },
    unsubscribed: {
      type: 'object',
      required: [
        'type',
        'topic'
      ],
      properties: {
        type: {
          const: 'unsubscribed'
        },
        topic: {
          $ref: '#/$defs/topic'
        }
      }
    },
    ack: {
      type: 'object',
      required: [
        'type',
        'id'
      ],
      properties: {
        type: {
          const: 'ack'
        },
        id: {
          $ref: '#/$defs/id'
        }
      }
    },
    pong: {
      type: 'object',
      required: [
        'type'
      ],
      properties: {
        type: {
          const: 'pong'
        }
      }
    },
    error: {
      type: 'object',
      required: [
        'type',
        'code',
        'message'
      ],
      properties: {
        type: {
          const: 'error'
        },
        code: {
          enum: [
            'malformed',
            'unexpected',
            'forbidden',
            'too_large'
          ]
        },
        message: {
          type: 'string',
          maxLength: 200
        }
      }
    },
    clientFrame: {
      oneOf: [
        {
          $ref: '#/$defs/hello'
        },
        {
          $ref: '#/$defs/send'
        },
        {
          $ref: '#/$defs/ping'
        }
      ]
    },
    serverFrame: {
      oneOf: [
        {
          $ref: '#/$defs/welcome'
        },
        {
          $ref: '#/$defs/recovery'
        },
        {
          $ref: '#/$defs/message'
        },
        {
          $ref: '#/$defs/replayed'
        },
        {
          $ref: '#/$defs/unsubscribed'
        },
        {
          $ref: '#/$defs/ack'
        },
        {
          $ref: '#/$defs/pong'
        },
        {
          $ref: '#/$defs/error'
        }
      ]
    }
  }
};
